import { asError, endForStatus, fetchTicket, isAbortError, resolveToken } from '../http.js';
import { withQuery } from '../urls.js';
import type { EventSourceConstructor, EventSourceLike, TransportEnd } from '../types.js';
import { SseClientError } from '../types.js';
import type { ConnectRequest, Transport, TransportCallbacks } from './transport.js';

/** The event types every EventSource connection listens for. */
export const BUILT_IN_EVENT_TYPES = ['welcome', 'heartbeat', 'reset', 'reauth', 'close'] as const;

const CLOSED = 2;

/**
 * The EventSource transport. Native EventSource cannot send headers, so before every
 * connect (and reconnect) it fetches a fresh single-use ticket (`POST /sse/tickets` with
 * the bearer token) and opens `connect?ticket=…&topics=…&clientId=…&lastEventId=…`.
 * Without `getToken` it opens the URL without a ticket and relies on cookies.
 *
 * The browser's own reconnect is never used: on any error the EventSource is closed and
 * the client reconnects with its backoff, a fresh ticket and the last id.
 *
 * EventSource hides the HTTP status of a refused connect. When a connect fails before it
 * opened, the transport asks once more with `fetch` (and another fresh ticket) to learn
 * the status: 204 stops for good, 401/403/400 surface an error, anything else retries.
 */
export class EventSourceTransport implements Transport {
  readonly seesComments = false;
  private readonly abort = new AbortController();
  private readonly types = new Set<string>();
  private source: EventSourceLike | undefined;
  private closed = false;
  private ended = false;
  private opened = false;
  /** The last event id the native EventSource reported (to tell own ids from inherited ones). */
  private previousId = '';

  constructor(
    private readonly request: ConnectRequest,
    private readonly callbacks: TransportCallbacks,
    private readonly EventSourceClass: EventSourceConstructor,
    eventTypes: Iterable<string>,
  ) {
    this.types.add('message');
    for (const type of BUILT_IN_EVENT_TYPES) this.types.add(type);
    for (const type of eventTypes) this.types.add(type);
    void this.run();
  }

  listen(type: string): void {
    if (type === '*' || this.types.has(type)) return;
    this.types.add(type);
    this.source?.addEventListener(type, this.onNativeEvent);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.abort.abort();
    this.closeSource();
  }

  private end(end: TransportEnd): void {
    if (this.closed || this.ended) return;
    this.ended = true;
    this.abort.abort();
    this.closeSource();
    this.callbacks.onEnd(end);
  }

  private closeSource(): void {
    const source = this.source;
    if (!source) return;
    this.source = undefined;
    source.onopen = null;
    source.onerror = null;
    source.onmessage = null;
    for (const type of this.types) {
      if (type !== 'message') source.removeEventListener(type, this.onNativeEvent);
    }
    source.close();
  }

  /** A ticket for one connect, or undefined when the client has no token (cookies). */
  private async ticket(): Promise<{ ticket?: string } | { end: TransportEnd }> {
    const { options } = this.request;
    const token = await resolveToken(options.getToken);
    if (!token) return {};
    return fetchTicket(this.request.fetch, this.request.ticketUrl, token, options.headers, options.withCredentials, this.abort.signal);
  }

  private url(ticket: string | undefined): string {
    return withQuery(this.request.connectUrl, this.request.connectQuery, {
      ticket,
      ...this.request.params,
      lastEventId: this.request.lastEventId || undefined,
    });
  }

  private async run(): Promise<void> {
    let ticket: string | undefined;
    try {
      const result = await this.ticket();
      if (this.closed) return;
      if ('end' in result) {
        this.end(result.end);
        return;
      }
      ticket = result.ticket;
    } catch (error) {
      if (this.closed || isAbortError(error)) return;
      this.end({ kind: 'retry', error: asError(error) });
      return;
    }

    let source: EventSourceLike;
    try {
      source = new this.EventSourceClass(this.url(ticket), { withCredentials: !!this.request.options.withCredentials });
    } catch (error) {
      // A malformed URL: retrying the same URL cannot help.
      this.end({ kind: 'fatal', error: new SseClientError(asError(error).message) });
      return;
    }
    this.source = source;
    source.onopen = () => {
      if (this.closed || this.ended) return;
      this.opened = true;
      this.callbacks.onOpen();
    };
    source.onmessage = this.onNativeEvent;
    for (const type of this.types) {
      if (type !== 'message') source.addEventListener(type, this.onNativeEvent);
    }
    source.onerror = () => {
      if (this.closed || this.ended) return;
      const refused = !this.opened && source.readyState === CLOSED;
      this.closeSource();
      if (refused) void this.probe();
      else this.end({ kind: 'retry', error: new SseClientError('the stream was interrupted') });
    };
  }

  private readonly onNativeEvent = (event: MessageEvent | { type: string; data?: unknown; lastEventId?: string }): void => {
    if (this.closed || this.ended) return;
    const id = typeof event.lastEventId === 'string' ? event.lastEventId : '';
    // Native EventSource reports the id in force; an event carried its own id when that
    // changed (an event repeating the previous id is treated as carrying none).
    const hasOwnId = id !== this.previousId;
    if (hasOwnId) this.previousId = id;
    this.callbacks.onEvent({
      type: event.type,
      data: typeof event.data === 'string' ? event.data : String(event.data ?? ''),
      id,
      hasOwnId,
    });
  };

  /** Learns why the EventSource was refused (it hides the status). */
  private async probe(): Promise<void> {
    let end: TransportEnd;
    try {
      const result = await this.ticket();
      if (this.closed) return;
      if ('end' in result) {
        this.end(result.end);
        return;
      }
      const response = await this.request.fetch(this.url(result.ticket), {
        method: 'GET',
        headers: { Accept: 'text/event-stream' },
        credentials: this.request.options.withCredentials ? 'include' : 'same-origin',
        cache: 'no-store',
        signal: this.abort.signal,
      });
      void response.body?.cancel().catch(() => undefined);
      if (response.ok && response.status !== 204) {
        end = { kind: 'retry', error: new SseClientError('the stream was refused') };
      } else {
        end = endForStatus(response.status, 'the stream');
      }
    } catch (error) {
      if (this.closed || isAbortError(error)) return;
      end = { kind: 'retry', error: asError(error) };
    }
    this.end(end);
  }
}
