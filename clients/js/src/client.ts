import { AnswerRun } from './answers.js';
import type { Answer, StreamAnswerOptions } from './answers.js';
import { Backoff } from './backoff.js';
import { decodeData } from './decode.js';
import { safeCall } from './safe-call.js';
import type { ParsedEvent } from './parser.js';
import { RecentIds } from './recent-ids.js';
import type { Scheduler } from './timers.js';
import { defaultScheduler } from './timers.js';
import { EventSourceTransport } from './transports/event-source.js';
import { FetchStreamTransport } from './transports/fetch-stream.js';
import type { ConnectRequest, Transport, TransportCallbacks } from './transports/transport.js';
import type {
  CloseData,
  ConnectionState,
  EventSourceConstructor,
  FetchLike,
  SseClientOptions,
  SseEvent,
  SseEventHandler,
  TransportEnd,
  TransportKind,
  VisibilitySource,
  WelcomeData,
} from './types.js';
import { SseClientError } from './types.js';
import type { GatewayUrls } from './urls.js';
import { resolveGatewayUrls } from './urls.js';
import { HeartbeatWatchdog } from './watchdog.js';

/** Events the gateway itself sends; they are never dropped as duplicates. */
const CONTROL_TYPES = new Set(['welcome', 'heartbeat', 'reset', 'reauth', 'close']);

/** The gateway's default heartbeat interval, used when nothing better is known. */
const DEFAULT_HEARTBEAT_SECONDS = 15;

/** What `getSnapshot()` returns; a new object only when something in it changed. */
export interface SseClientSnapshot {
  readonly state: ConnectionState;
  readonly connectionId: string | null;
  readonly lastEventId: string;
  readonly error: SseClientError | null;
}

export interface SseClientEvents {
  /** The connection state changed. */
  state: (state: ConnectionState, previous: ConnectionState) => void;
  /** The client stopped because of an error it cannot fix by retrying. */
  error: (error: SseClientError) => void;
  /** state, connectionId, lastEventId or error changed (see `getSnapshot()`). */
  change: (snapshot: SseClientSnapshot) => void;
}

interface Subscription {
  readonly handler: SseEventHandler<any>;
  readonly once: boolean;
}

/**
 * A connection to an SseCluster gateway that stays up: it reconnects with backoff,
 * resumes from the last event id, drops duplicates and watches heartbeats.
 *
 * ```ts
 * const client = new SseClient({ url: 'https://gw.example.com', transport: 'fetch', getToken });
 * const off = client.subscribe('order.updated', (e) => console.log(e.data));
 * client.connect();
 * ```
 */
export { decodeData };

export class SseClient {
  private readonly options: SseClientOptions;
  private readonly urls: GatewayUrls;
  private readonly backoff: Backoff;
  private readonly recent: RecentIds;
  private readonly scheduler: Scheduler;
  private readonly watchdog: HeartbeatWatchdog;
  private readonly subscriptions = new Map<string, Set<Subscription>>();
  private readonly listeners: { [K in keyof SseClientEvents]: Set<SseClientEvents[K]> } = {
    state: new Set(),
    error: new Set(),
    change: new Set(),
  };
  private transport: Transport | undefined;
  private reconnectTimer: unknown = undefined;
  private stateValue: ConnectionState = 'idle';
  private connectionIdValue: string | null = null;
  private lastEventIdValue: string;
  private errorValue: SseClientError | null = null;
  private welcomeValue: WelcomeData | null = null;
  private welcomeHeartbeatSeconds: number | undefined;
  private everOpened = false;
  private visibilitySource: VisibilitySource | undefined;
  private snapshot: SseClientSnapshot;

  constructor(options: SseClientOptions) {
    if (!options || typeof options.url !== 'string') throw new TypeError('SseClient needs options.url');
    this.options = { ...options };
    this.urls = resolveGatewayUrls(options.url, options.path, options.ticketUrl);
    this.backoff = new Backoff({ baseRetryMs: options.baseRetryMs, maxRetryMs: options.maxRetryMs, random: options.random });
    this.recent = new RecentIds(options.dedupeCapacity ?? 512);
    this.scheduler = options.scheduler ?? defaultScheduler;
    this.watchdog = new HeartbeatWatchdog(() => this.onWatchdogTimeout(), this.scheduler);
    this.lastEventIdValue = options.lastEventId ?? '';
    this.snapshot = this.makeSnapshot();
    if (options.autoConnect) this.connect();
  }

  /** The connection state. */
  get state(): ConnectionState {
    return this.stateValue;
  }

  /** Whether the stream is open. */
  get isConnected(): boolean {
    return this.stateValue === 'open';
  }

  /** The current connection's id (from `welcome`), null when not connected. */
  get connectionId(): string | null {
    return this.connectionIdValue;
  }

  /** The id of the last event received: where a reconnect resumes from. */
  get lastEventId(): string {
    return this.lastEventIdValue;
  }

  /** The error that stopped the client (state `error`), else null. */
  get error(): SseClientError | null {
    return this.errorValue;
  }

  /** The current connection's `welcome` data, null when not connected. */
  get welcome(): WelcomeData | null {
    return this.welcomeValue;
  }

  /** The transport in use. */
  get transportKind(): TransportKind {
    return this.options.transport ?? (typeof globalThis.EventSource === 'function' || this.options.EventSource ? 'eventsource' : 'fetch');
  }

  /** The URL streams are opened from (without the client's query parameters). */
  get connectUrl(): string {
    return this.urls.connectUrl;
  }

  /** The current values of state, connectionId, lastEventId and error (stable until one changes). */
  getSnapshot(): SseClientSnapshot {
    return this.snapshot;
  }

  /** Opens the stream (no-op when already connecting or open). */
  connect(): void {
    if (this.stateValue === 'connecting' || this.stateValue === 'open' || this.stateValue === 'reconnecting' || this.stateValue === 'paused') {
      return;
    }
    this.setError(null);
    this.attachVisibility();
    if (this.isHidden()) {
      this.setState('paused');
      return;
    }
    this.startAttempt('connecting');
  }

  /** Closes the stream for good (until `connect()` or `reconnect()` is called). */
  disconnect(): void {
    this.teardown();
    this.detachVisibility();
    this.setState('closed');
  }

  /** Closes the stream and opens a new one now, resuming from the last event id. */
  reconnect(): void {
    this.teardown();
    this.backoff.reset();
    this.setError(null);
    this.attachVisibility();
    if (this.isHidden()) {
      this.setState('paused');
      return;
    }
    this.startAttempt(this.everOpened ? 'reconnecting' : 'connecting');
  }

  /**
   * Calls `handler` for every event of `eventType` (`'*'` for all events). Returns a
   * function that removes the subscription.
   */
  subscribe<T = any>(eventType: string, handler: SseEventHandler<T>): () => void {
    return this.add(eventType, { handler, once: false });
  }

  /** Like `subscribe`, for the next event of `eventType` only. */
  once<T = any>(eventType: string, handler: SseEventHandler<T>): () => void {
    return this.add(eventType, { handler, once: true });
  }

  /** Removes `handler` from `eventType` (every handler of that type when none is given). */
  unsubscribe(eventType: string, handler?: SseEventHandler<any>): void {
    const set = this.subscriptions.get(eventType);
    if (!set) return;
    for (const subscription of [...set]) {
      if (handler === undefined || subscription.handler === handler) set.delete(subscription);
    }
    if (set.size === 0) this.subscriptions.delete(eventType);
  }

  /** Listens for client events (`state`, `error`, `change`). Returns a function that stops listening. */
  on<K extends keyof SseClientEvents>(event: K, listener: SseClientEvents[K]): () => void {
    const set = this.listeners[event] as Set<SseClientEvents[K]>;
    set.add(listener);
    return () => {
      set.delete(listener);
    };
  }

  off<K extends keyof SseClientEvents>(event: K, listener: SseClientEvents[K]): void {
    (this.listeners[event] as Set<SseClientEvents[K]>).delete(listener);
  }

  /**
   * Asks a question and reads its streamed answer: `POST <base>/sse/answers` with `body` as
   * JSON, with this client's credentials (`getToken` as a bearer header, cookies per
   * `withCredentials`) and headers. Needs neither `connect()` nor the `fetch` transport.
   *
   * Calls `onChunk` once per chunk, in order. When the stream breaks before `done` (network
   * error, reset, a response that ends early, silent for 2.5 × `heartbeatSeconds`), it
   * resumes with `GET <base>/sse/answers/{answerId}` and `Last-Event-ID` after this client's
   * backoff, on whichever gateway answers, and never hands over a chunk twice. Resolves with
   * the whole answer at `done`. Rejects with an `AnswerError` on the answer's `error` event
   * (`reason`), on a refused request (`status`, `problem`: 4xx, and any non-2xx to the POST,
   * which is never repeated), and when resuming keeps failing; with an `AbortError` when
   * `signal` aborts (no request is made after that).
   */
  streamAnswer(body: unknown, options: StreamAnswerOptions = {}): Promise<Answer> {
    return new AnswerRun(
      { baseUrl: this.urls.baseUrl, options: this.options, fetch: this.resolveFetch(), scheduler: this.scheduler },
      body,
      options,
    ).start();
  }

  // ---- connection life ---------------------------------------------------------------

  private startAttempt(state: 'connecting' | 'reconnecting'): void {
    this.clearReconnectTimer();
    this.closeTransport();
    this.setState(state);

    const fetchFn = this.resolveFetch();
    const request: ConnectRequest = {
      connectUrl: this.urls.connectUrl,
      connectQuery: this.urls.connectQuery,
      ticketUrl: this.urls.ticketUrl,
      params: {
        topics: this.options.topics && this.options.topics.length > 0 ? this.options.topics.join(',') : undefined,
        clientId: this.options.clientId,
      },
      lastEventId: this.lastEventIdValue,
      options: this.options,
      fetch: fetchFn,
    };

    let transport: Transport | undefined;
    const callbacks: TransportCallbacks = {
      onOpen: () => this.whenCurrent(transport, () => this.onOpen()),
      onEvent: (event) => this.whenCurrent(transport, () => this.onEvent(event, transport!)),
      onComment: () => this.whenCurrent(transport, () => this.watchdog.kick()),
      onRetry: (ms) => this.whenCurrent(transport, () => this.backoff.setServerRetry(ms)),
      onLastEventId: (id) => this.whenCurrent(transport, () => this.setLastEventId(id)),
      onEnd: (end) => this.whenCurrent(transport, () => this.onEnd(end)),
    };

    if (this.transportKind === 'fetch') {
      transport = new FetchStreamTransport(request, callbacks);
    } else {
      const EventSourceClass = this.options.EventSource ?? (globalThis.EventSource as unknown as EventSourceConstructor | undefined);
      if (typeof EventSourceClass !== 'function') {
        this.fail(new SseClientError('EventSource is not available here: use transport "fetch"'));
        return;
      }
      const types = [...(this.options.eventTypes ?? []), ...[...this.subscriptions.keys()].filter((t) => t !== '*')];
      transport = new EventSourceTransport(request, callbacks, EventSourceClass, types);
    }
    // Callbacks can only arrive asynchronously, so `transport` is set before any of them.
    this.transport = transport;
  }

  private whenCurrent(transport: Transport | undefined, action: () => void): void {
    if (transport !== undefined && transport === this.transport) action();
  }

  private onOpen(): void {
    this.everOpened = true;
    this.setState('open');
    // Only a transport that sees comment heartbeats can watch from the start; the
    // EventSource transport starts watching once it has seen a heartbeat event.
    if (this.transport?.seesComments) {
      const seconds = this.options.heartbeatSeconds ?? this.welcomeHeartbeatSeconds;
      if (seconds !== undefined && this.watchdogEnabled) this.watchdog.start(seconds);
    }
  }

  private onEvent(parsed: ParsedEvent, transport: Transport): void {
    this.watchdog.kick();
    const { type } = parsed;
    if (!CONTROL_TYPES.has(type) && parsed.hasOwnId && parsed.id !== '' && !this.recent.add(parsed.id)) {
      return; // already delivered
    }
    let changed = false;
    if (parsed.hasOwnId && parsed.id !== this.lastEventIdValue) {
      this.lastEventIdValue = parsed.id;
      changed = true;
    }
    const event: SseEvent = {
      type,
      data: decodeData(parsed.data),
      raw: parsed.data,
      id: parsed.id,
      receivedAt: this.scheduler.now(),
    };

    if (type === 'welcome') {
      const welcome = (isObject(event.data) ? event.data : {}) as unknown as WelcomeData;
      this.welcomeValue = welcome;
      const connectionId = typeof welcome.connectionId === 'string' ? welcome.connectionId : null;
      if (connectionId !== this.connectionIdValue) {
        this.connectionIdValue = connectionId;
        changed = true;
      }
      if (typeof welcome.heartbeatSeconds === 'number' && welcome.heartbeatSeconds > 0) {
        this.welcomeHeartbeatSeconds = welcome.heartbeatSeconds;
      }
      this.backoff.reset();
      if (transport.seesComments && this.watchdogEnabled && this.welcomeHeartbeatSeconds !== undefined) {
        this.watchdog.start(this.welcomeHeartbeatSeconds);
      }
    } else if (type === 'reset') {
      // The server could not resume some streams and continues them from "now": their
      // positions may repeat ids seen before (e.g. a gateway with in-memory history
      // restarted), so the remembered ids no longer tell duplicates apart.
      this.recent.clear();
    } else if (type === 'heartbeat' && !this.watchdog.armed && this.watchdogEnabled) {
      this.watchdog.start(this.welcomeHeartbeatSeconds ?? this.options.heartbeatSeconds ?? DEFAULT_HEARTBEAT_SECONDS);
    }
    if (changed) this.emitChange();

    this.dispatch(event);

    if (type === 'close' && transport === this.transport) {
      const close = (isObject(event.data) ? event.data : {}) as CloseData;
      this.teardown();
      if (close.reconnect === false) {
        this.detachVisibility();
        this.setState('closed');
      } else {
        this.scheduleReconnect(this.backoff.nextRequested());
      }
    }
  }

  private onEnd(end: TransportEnd): void {
    this.transport = undefined;
    this.watchdog.stop();
    this.clearConnection();
    switch (end.kind) {
      case 'stop':
        this.detachVisibility();
        this.setState('closed');
        break;
      case 'fatal':
        this.fail(end.error);
        break;
      default:
        this.scheduleReconnect(this.backoff.next());
        break;
    }
  }

  private onWatchdogTimeout(): void {
    if (!this.transport) return;
    this.teardown();
    this.scheduleReconnect(this.backoff.next());
  }

  private scheduleReconnect(delayMs: number): void {
    this.clearReconnectTimer();
    if (this.isHidden()) {
      this.setState('paused');
      return;
    }
    this.setState('reconnecting');
    this.reconnectTimer = this.scheduler.setTimeout(() => {
      this.reconnectTimer = undefined;
      this.startAttempt('reconnecting');
    }, delayMs);
  }

  private fail(error: SseClientError): void {
    this.teardown();
    this.detachVisibility();
    this.setError(error);
    this.setState('error');
    for (const listener of [...this.listeners.error]) safeCall(() => listener(error));
  }

  private teardown(): void {
    this.clearReconnectTimer();
    this.closeTransport();
    this.watchdog.stop();
    this.clearConnection();
  }

  private closeTransport(): void {
    const transport = this.transport;
    this.transport = undefined;
    transport?.close();
  }

  private clearReconnectTimer(): void {
    if (this.reconnectTimer !== undefined) {
      this.scheduler.clearTimeout(this.reconnectTimer);
      this.reconnectTimer = undefined;
    }
  }

  private clearConnection(): void {
    this.welcomeValue = null;
    if (this.connectionIdValue !== null) {
      this.connectionIdValue = null;
      this.emitChange();
    }
  }

  private get watchdogEnabled(): boolean {
    return this.options.heartbeatSeconds !== 0;
  }

  private resolveFetch(): FetchLike {
    if (this.options.fetch) return this.options.fetch;
    if (typeof globalThis.fetch === 'function') return globalThis.fetch.bind(globalThis) as FetchLike;
    return () => Promise.reject(new SseClientError('fetch is not available here'));
  }

  // ---- page visibility ---------------------------------------------------------------

  private attachVisibility(): void {
    if (!this.options.pauseWhenHidden || this.visibilitySource) return;
    const source = this.options.document ?? (typeof document !== 'undefined' ? (document as VisibilitySource) : undefined);
    if (!source) return;
    this.visibilitySource = source;
    source.addEventListener('visibilitychange', this.onVisibilityChange);
  }

  private detachVisibility(): void {
    this.visibilitySource?.removeEventListener('visibilitychange', this.onVisibilityChange);
    this.visibilitySource = undefined;
  }

  private isHidden(): boolean {
    return !!this.options.pauseWhenHidden && this.visibilitySource?.visibilityState === 'hidden';
  }

  private readonly onVisibilityChange = (): void => {
    if (this.isHidden()) {
      if (this.stateValue === 'connecting' || this.stateValue === 'open' || this.stateValue === 'reconnecting') {
        this.teardown();
        this.setState('paused');
      }
    } else if (this.stateValue === 'paused') {
      this.backoff.reset();
      this.startAttempt(this.everOpened ? 'reconnecting' : 'connecting');
    }
  };

  // ---- events and state --------------------------------------------------------------

  private add(eventType: string, subscription: Subscription): () => void {
    if (typeof eventType !== 'string' || eventType === '') throw new TypeError('eventType must be a non-empty string');
    if (typeof subscription.handler !== 'function') throw new TypeError('handler must be a function');
    let set = this.subscriptions.get(eventType);
    if (!set) {
      set = new Set();
      this.subscriptions.set(eventType, set);
    }
    set.add(subscription);
    this.transport?.listen(eventType);
    return () => {
      const current = this.subscriptions.get(eventType);
      if (!current) return;
      current.delete(subscription);
      if (current.size === 0) this.subscriptions.delete(eventType);
    };
  }

  private dispatch(event: SseEvent): void {
    for (const key of [event.type, '*']) {
      const set = this.subscriptions.get(key);
      if (!set) continue;
      for (const subscription of [...set]) {
        if (!set.has(subscription)) continue; // removed by an earlier handler
        if (subscription.once) {
          set.delete(subscription);
          if (set.size === 0) this.subscriptions.delete(key);
        }
        safeCall(() => subscription.handler(event));
      }
    }
  }

  private setLastEventId(id: string): void {
    if (id === this.lastEventIdValue) return;
    this.lastEventIdValue = id;
    this.emitChange();
  }

  private setError(error: SseClientError | null): void {
    if (error === this.errorValue) return;
    this.errorValue = error;
    this.emitChange();
  }

  private setState(state: ConnectionState): void {
    const previous = this.stateValue;
    if (state === previous) return;
    this.stateValue = state;
    for (const listener of [...this.listeners.state]) safeCall(() => listener(state, previous));
    this.emitChange();
  }

  private emitChange(): void {
    const next = this.makeSnapshot();
    const current = this.snapshot;
    if (
      next.state === current.state &&
      next.connectionId === current.connectionId &&
      next.lastEventId === current.lastEventId &&
      next.error === current.error
    ) {
      return;
    }
    this.snapshot = next;
    for (const listener of [...this.listeners.change]) safeCall(() => listener(next));
  }

  private makeSnapshot(): SseClientSnapshot {
    return Object.freeze({
      state: this.stateValue,
      connectionId: this.connectionIdValue,
      lastEventId: this.lastEventIdValue,
      error: this.errorValue,
    });
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}


/**
 * `streamAnswer` without a client of your own: `options` holds the client's options (`url`,
 * `getToken`, …) and the answer's (`onChunk`, `signal`, …). See `SseClient.streamAnswer`.
 */
export function streamAnswer(body: unknown, options: SseClientOptions & StreamAnswerOptions): Promise<Answer> {
  return new SseClient(options).streamAnswer(body, options);
}
