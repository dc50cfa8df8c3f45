import type { ParsedEvent } from '../parser.js';
import type { FetchLike, SseClientOptions, TransportEnd } from '../types.js';

/** What one connection attempt needs to know. */
export interface ConnectRequest {
  /** The connect URL without query. */
  connectUrl: string;
  /** The caller's own query string on the URL (kept). */
  connectQuery: string;
  ticketUrl: string;
  /** `topics` and `clientId` query parameters. */
  params: Record<string, string | undefined>;
  /** Where to resume from (`""` for live only). */
  lastEventId: string;
  options: SseClientOptions;
  fetch: FetchLike;
}

/** How a transport reports to the client. Nothing is reported after `close()`. */
export interface TransportCallbacks {
  /** The stream is open (HTTP 200 with `text/event-stream`). */
  onOpen(): void;
  onEvent(event: ParsedEvent): void;
  /** A comment line (only transports that can see them). */
  onComment(text: string): void;
  /** The server's `retry:` (only transports that can see it). */
  onRetry(milliseconds: number): void;
  /** The stream's last event id was reset (a lone `id:`; only transports that can see it). */
  onLastEventId(id: string): void;
  /** The connection is over; the client decides what comes next. Called at most once. */
  onEnd(end: TransportEnd): void;
}

/** One connection attempt and, if it opens, its stream. */
export interface Transport {
  /** Whether comment lines (`: heartbeat`) are visible to this transport. */
  readonly seesComments: boolean;
  /** Start receiving events of this type too (EventSource needs a listener per type). */
  listen(type: string): void;
  /** Ends the connection; no callback is called afterwards. */
  close(): void;
}
