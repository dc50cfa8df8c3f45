/**
 * Streamed answers: `POST /sse/answers` answers with the answer's own SSE stream
 * (`answer`, the chunks, then `done` or `error`). When that stream breaks before its end,
 * the answer is read on from `GET /sse/answers/{answerId}` with `Last-Event-ID`, on any
 * gateway, until `done`.
 */
import { Backoff } from './backoff.js';
import { decodeData } from './decode.js';
import { problemSummary } from './http.js';
import { safeCall } from './safe-call.js';
import type { ParsedEvent } from './parser.js';
import type { Scheduler } from './timers.js';
import { FetchStreamTransport } from './transports/fetch-stream.js';
import type { ConnectRequest, TransportCallbacks } from './transports/transport.js';
import type { FetchLike, ProblemDetails, SseClientOptions, TransportEnd } from './types.js';
import { SseClientError } from './types.js';
import { HeartbeatWatchdog } from './watchdog.js';

/** Where answers are asked and resumed, under the gateway's base URL. */
export const ANSWERS_PATH = '/sse/answers';

/** Consecutive failed resumes after which `streamAnswer` gives up (default). */
export const DEFAULT_MAX_RESUME_ATTEMPTS = 10;

/** The answer stream's heartbeat interval to expect, in seconds, when the client's options name none. */
const DEFAULT_ANSWER_HEARTBEAT_SECONDS = 15;

/** Event types of an answer stream that are not chunks. */
const ANSWER_EVENT = 'answer';
const DONE_EVENT = 'done';
const ERROR_EVENT = 'error';
/** The gateway's connection events: reserved, never chunks. */
const CONTROL_TYPES = new Set(['welcome', 'heartbeat', 'reset', 'reauth', 'close']);

/** One chunk of an answer, as the backend wrote it. */
export interface AnswerChunk<T = unknown> {
  /** The event type: `chunk`, or the type the backend gave the chunk. */
  type: string;
  /** The chunk's data (the JSON the backend sent, decoded). */
  data: T;
  /** The data exactly as received. */
  raw: string;
  /** The chunk's id (`<sequence>-<epoch>`). */
  id: string;
  /** When the client received it (ms since the epoch). */
  receivedAt: number;
}

/** A finished answer. */
export interface Answer {
  answerId: string;
  /** The user the gateway asked for (from the `answer` event). */
  userId: string | null;
  /** The string data of every chunk, concatenated in order. */
  text: string;
  /** Every chunk, in order, each once. */
  chunks: AnswerChunk[];
}

/** Where a streamed answer is: asking (the POST), streaming, or resuming after a break. */
export type AnswerState = 'asking' | 'streaming' | 'resuming';

export interface StreamAnswerOptions {
  /** Called once per chunk, in order, never twice for the same chunk. */
  onChunk?: (chunk: AnswerChunk) => void;
  /** Called when the gateway names the answer (its first event). */
  onAnswer?: (answer: { answerId: string; userId: string | null }) => void;
  /** Called when the state changes (`resuming` after a break, `streaming` once resumed). */
  onState?: (state: AnswerState) => void;
  /** Aborts the answer: the request ends, nothing more is asked, the promise rejects with an `AbortError`. */
  signal?: AbortSignal;
  /** Consecutive failed resumes before giving up (default 10); a chunk received starts the count over. */
  maxResumeAttempts?: number;
}

/**
 * Why an answer did not finish: the answer's `error` event (`reason` is the server's),
 * a refused request (`status` and the problem+json `problem`), or a stream that could
 * not be resumed. An abort rejects with an `AbortError` instead.
 */
export class AnswerError extends SseClientError {
  /** The reason of the answer's `error` event (`timeout`, `backend-unreachable`, the backend's own …). */
  readonly reason: string | undefined;
  /** The answer's id, when the gateway had named it. */
  readonly answerId: string | undefined;

  constructor(message: string, details: { status?: number; problem?: ProblemDetails; reason?: string; answerId?: string } = {}) {
    super(message, details.status, details.problem);
    this.name = 'AnswerError';
    this.reason = details.reason;
    this.answerId = details.answerId;
  }
}

/** What an answer needs from the client that asks it. */
export interface AnswerContext {
  /** The gateway's base URL (`""` for the page's origin). */
  baseUrl: string;
  /** The client's options: credentials (`getToken`, `withCredentials`), headers, backoff. */
  options: SseClientOptions;
  fetch: FetchLike;
  scheduler: Scheduler;
}

/** One streamed answer, from the POST to `done`; settles its promise exactly once. */
export class AnswerRun {
  private readonly backoff: Backoff;
  private readonly watchdog: HeartbeatWatchdog;
  private readonly answersUrl: string;
  private readonly chunks: AnswerChunk[] = [];
  private readonly seenIds = new Set<string>();
  private text = '';
  private highestSequence = -1;
  private answerId: string | undefined;
  private userId: string | null = null;
  private lastEventId = '';
  private transport: FetchStreamTransport | undefined;
  private resumeTimer: unknown = undefined;
  private failures = 0;
  private state: AnswerState | undefined;
  private settled = false;
  private resolveAnswer!: (answer: Answer) => void;
  private rejectAnswer!: (error: unknown) => void;
  readonly promise: Promise<Answer>;

  constructor(
    private readonly context: AnswerContext,
    private readonly body: unknown,
    private readonly callbacks: StreamAnswerOptions = {},
  ) {
    const { options } = context;
    this.backoff = new Backoff({ baseRetryMs: options.baseRetryMs, maxRetryMs: options.maxRetryMs, random: options.random });
    this.watchdog = new HeartbeatWatchdog(() => this.onWatchdogTimeout(), context.scheduler);
    this.answersUrl = context.baseUrl + ANSWERS_PATH;
    this.promise = new Promise<Answer>((resolve, reject) => {
      this.resolveAnswer = resolve;
      this.rejectAnswer = reject;
    });
  }

  /** Asks the question; the promise settles with the whole answer or the reason it has none. */
  start(): Promise<Answer> {
    const { signal } = this.callbacks;
    if (signal?.aborted) {
      this.settle(() => this.rejectAnswer(abortError(signal)));
      return this.promise;
    }
    signal?.addEventListener('abort', this.onAbort, { once: true });
    let encoded: string;
    try {
      encoded = JSON.stringify(this.body ?? {});
    } catch (error) {
      this.fail(new AnswerError(`the question cannot be sent as JSON: ${error instanceof Error ? error.message : String(error)}`));
      return this.promise;
    }
    this.setState('asking');
    this.open(encoded);
    return this.promise;
  }

  // ---- requests ----------------------------------------------------------------------

  /** Opens the POST (with `question`) or, once the answer has an id, a resume from the last id. */
  private open(question?: string): void {
    const { options } = this.context;
    const asking = question !== undefined;
    const request: ConnectRequest = {
      connectUrl: asking ? this.answersUrl : `${this.answersUrl}/${encodeURIComponent(this.answerId!)}`,
      connectQuery: '',
      ticketUrl: '',
      params: {},
      lastEventId: asking ? '' : this.lastEventId,
      options: asking
        ? { ...options, method: 'POST', body: question, headers: { ...options.headers, 'Content-Type': 'application/json' } }
        : { ...options, method: 'GET', body: undefined },
      fetch: this.context.fetch,
    };
    let transport: FetchStreamTransport | undefined;
    const current = (action: () => void) => {
      if (!this.settled && transport !== undefined && transport === this.transport) action();
    };
    const callbacks: TransportCallbacks = {
      onOpen: () => current(() => this.onOpen()),
      onEvent: (event) => current(() => this.onEvent(event)),
      onComment: () => current(() => this.watchdog.kick()),
      onRetry: (ms) => current(() => this.backoff.setServerRetry(ms)),
      onLastEventId: (id) => current(() => (this.lastEventId = id)),
      onEnd: (end) => current(() => this.onEnd(end)),
    };
    // The transport reports only asynchronously, so `transport` is set before any callback.
    transport = new FetchStreamTransport(request, callbacks);
    this.transport = transport;
  }

  private onOpen(): void {
    const seconds = this.context.options.heartbeatSeconds ?? DEFAULT_ANSWER_HEARTBEAT_SECONDS;
    if (seconds > 0) this.watchdog.start(seconds);
    if (this.answerId !== undefined) this.setState('streaming');
  }

  private onEvent(event: ParsedEvent): void {
    this.watchdog.kick();
    if (event.hasOwnId && event.id !== '') this.lastEventId = event.id;
    switch (event.type) {
      case ANSWER_EVENT:
        this.onAnswerNamed(event);
        return;
      case DONE_EVENT:
        this.finish();
        return;
      case ERROR_EVENT: {
        const data = decodeData(event.data) as { reason?: unknown } | string;
        const reason = typeof data === 'object' && data !== null && typeof data.reason === 'string' ? data.reason : 'unknown';
        this.fail(new AnswerError(`the answer failed: ${reason}`, { reason, answerId: this.answerId }));
        return;
      }
      case 'close':
        // A gateway shutting down asks its readers to come back: resume elsewhere.
        this.resumeLater(this.backoff.nextRequested());
        return;
      default:
        if (CONTROL_TYPES.has(event.type)) return;
        this.onChunk(event);
    }
  }

  private onAnswerNamed(event: ParsedEvent): void {
    if (this.answerId !== undefined) return; // a replay from the start names it again
    const data = decodeData(event.data) as { answerId?: unknown; userId?: unknown };
    if (typeof data !== 'object' || data === null || typeof data.answerId !== 'string' || data.answerId === '') {
      this.fail(new AnswerError('the answer stream did not name its answer (no answerId in the `answer` event)'));
      return;
    }
    this.answerId = data.answerId;
    this.userId = typeof data.userId === 'string' ? data.userId : null;
    this.setState('streaming');
    const named = { answerId: this.answerId, userId: this.userId };
    safeCall(() => this.callbacks.onAnswer?.(named));
  }

  private onChunk(event: ParsedEvent): void {
    if (this.isDuplicate(event.id)) return;
    // Progress: a later break starts its backoff and its count of attempts over.
    this.failures = 0;
    this.backoff.reset();
    const chunk: AnswerChunk = {
      type: event.type,
      data: decodeData(event.data),
      raw: event.data,
      id: event.id,
      receivedAt: this.context.scheduler.now(),
    };
    this.chunks.push(chunk);
    if (typeof chunk.data === 'string') this.text += chunk.data;
    safeCall(() => this.callbacks.onChunk?.(chunk));
  }

  /**
   * Whether this chunk was delivered already. Answer ids are `<sequence>-<epoch>` (base 36):
   * the sequence orders the chunks whatever the epoch, so a replay from an older position
   * (or from the start, after an epoch change) repeats nothing. Other ids are remembered.
   */
  private isDuplicate(id: string): boolean {
    const sequence = sequenceOf(id);
    if (sequence !== undefined) {
      if (sequence <= this.highestSequence) return true;
      this.highestSequence = sequence;
      return false;
    }
    if (id === '') return false;
    if (this.seenIds.has(id)) return true;
    this.seenIds.add(id);
    return false;
  }

  private onEnd(end: TransportEnd): void {
    this.transport = undefined;
    this.watchdog.stop();
    if (this.answerId === undefined) {
      // Nothing names the answer yet, so there is nothing to resume; asking again could
      // start a second answer, so the caller decides.
      this.fail(askFailure(end));
      return;
    }
    switch (end.kind) {
      case 'stop':
        // 204: the gateway has nothing after our position. Only the id of `done` or `error`
        // gets that, and either one settled the answer already; anything else is a gateway
        // that lost track, which resuming cannot fix.
        this.fail(new AnswerError(`the gateway ended answer ${this.answerId} (HTTP 204) before it sent done`, { status: end.status, answerId: this.answerId }));
        return;
      case 'fatal':
        this.fail(httpFailure(end.error, `answer ${this.answerId} cannot be resumed`, this.answerId));
        return;
      default:
        this.resumeLater(this.backoff.next(), end.error);
    }
  }

  private onWatchdogTimeout(): void {
    if (this.settled || !this.transport) return;
    this.resumeLater(this.backoff.next());
  }

  /** Drops the current stream and reads on from the last id after `delayMs`. */
  private resumeLater(delayMs: number, cause?: Error): void {
    this.closeTransport();
    this.failures++;
    const limit = this.callbacks.maxResumeAttempts ?? DEFAULT_MAX_RESUME_ATTEMPTS;
    if (this.failures > limit) {
      const why = cause ? `: ${cause.message}` : '';
      this.fail(
        new AnswerError(`answer ${this.answerId} could not be resumed after ${limit} attempts${why}`, {
          status: cause instanceof SseClientError ? cause.status : undefined,
          answerId: this.answerId,
        }),
      );
      return;
    }
    this.setState('resuming');
    this.clearResumeTimer();
    this.resumeTimer = this.context.scheduler.setTimeout(() => {
      this.resumeTimer = undefined;
      if (!this.settled) this.open();
    }, delayMs);
  }

  // ---- the end -----------------------------------------------------------------------

  private finish(): void {
    const answer: Answer = { answerId: this.answerId ?? '', userId: this.userId, text: this.text, chunks: [...this.chunks] };
    this.settle(() => this.resolveAnswer(answer));
  }

  private fail(error: unknown): void {
    this.settle(() => this.rejectAnswer(error));
  }

  private readonly onAbort = (): void => {
    this.fail(abortError(this.callbacks.signal));
  };

  private settle(action: () => void): void {
    if (this.settled) return;
    this.settled = true;
    this.clearResumeTimer();
    this.watchdog.stop();
    this.closeTransport();
    this.callbacks.signal?.removeEventListener('abort', this.onAbort);
    action();
  }

  private closeTransport(): void {
    const transport = this.transport;
    this.transport = undefined;
    transport?.close();
  }

  private clearResumeTimer(): void {
    if (this.resumeTimer !== undefined) {
      this.context.scheduler.clearTimeout(this.resumeTimer);
      this.resumeTimer = undefined;
    }
  }

  private setState(state: AnswerState): void {
    if (state === this.state) return;
    this.state = state;
    safeCall(() => this.callbacks.onState?.(state));
  }
}

/** The sequence of an answer id `<sequence>-<epoch>` (both base 36), else undefined. */
export function sequenceOf(id: string): number | undefined {
  const match = /^([0-9a-z]+)-[0-9a-z]+$/i.exec(id);
  if (!match) return undefined;
  const sequence = parseInt(match[1]!, 36);
  return Number.isSafeInteger(sequence) ? sequence : undefined;
}

/** Why the POST gave no answer. */
function askFailure(end: TransportEnd): AnswerError {
  if (end.kind === 'stop') return new AnswerError(`the gateway answered the question with HTTP ${end.status} and no answer`, { status: end.status });
  const error = end.error;
  if (error instanceof SseClientError && error.status !== undefined) return httpFailure(error, 'the question was refused');
  const why = error ? `: ${error.message}` : '';
  return new AnswerError(`the answer stream broke before the gateway named the answer, so it cannot be resumed${why}`);
}

function httpFailure(error: SseClientError, what: string, answerId?: string): AnswerError {
  const why = (error.problem ? problemSummary(error.problem) : '') || error.message;
  return new AnswerError(`${what} (HTTP ${error.status ?? '?'}): ${why}`, {
    status: error.status,
    problem: error.problem,
    answerId,
  });
}

function abortError(signal: AbortSignal | undefined): Error {
  const reason: unknown = signal?.reason;
  if (reason instanceof Error && reason.name === 'AbortError') return reason;
  return new DOMException('the answer was aborted', 'AbortError');
}
