import type { Scheduler } from './timers.js';

/** Where the client is in its life. */
export type ConnectionState =
  /** created, `connect()` not called yet */
  | 'idle'
  /** a connection attempt started by `connect()` is under way (ticket, request) */
  | 'connecting'
  /** the stream is open */
  | 'open'
  /** the stream dropped: waiting for the backoff delay or re-connecting */
  | 'reconnecting'
  /** the page is hidden and `pauseWhenHidden` is on: no stream until it is visible */
  | 'paused'
  /** stopped for good: `disconnect()`, HTTP 204, or `close` with `reconnect: false` */
  | 'closed'
  /** stopped because of an error the client cannot fix by retrying (401, 403, 400 …) */
  | 'error';

export type TransportKind = 'eventsource' | 'fetch';

/** An event as handed to subscribers. */
export interface SseEvent<T = unknown> {
  /** The SSE event type (`message` when the server sent no `event:` line). */
  type: string;
  /** `raw` parsed as JSON, or `raw` itself when it is not JSON. */
  data: T;
  /** The data exactly as received (the `data:` lines joined with `\n`). */
  raw: string;
  /** The event id in force for this event (`""` when none). */
  id: string;
  /** When the client received it (ms since the epoch, from the client's clock). */
  receivedAt: number;
}

export type SseEventHandler<T = unknown> = (event: SseEvent<T>) => void;

/** The `welcome` event's data. */
export interface WelcomeData {
  connectionId: string;
  clientId?: string | null;
  userId?: string | null;
  gatewayId?: string;
  serverTime?: string;
  topics?: string[];
  heartbeatSeconds?: number;
}

/** The `close` event's data. */
export interface CloseData {
  reason?: string;
  reconnect?: boolean;
}

/** The `reset` event's data. */
export interface ResetData {
  reason?: 'history-gap' | 'invalid-last-event-id' | 'topics-changed' | string;
  streams?: string[];
}

/** The part of the EventSource API the client uses (so tests can inject a fake). */
export interface EventSourceLike {
  readonly readyState: number;
  readonly url?: string;
  onopen: ((this: any, ev: any) => any) | null;
  onmessage: ((this: any, ev: any) => any) | null;
  onerror: ((this: any, ev: any) => any) | null;
  addEventListener(type: string, listener: (ev: any) => void): void;
  removeEventListener(type: string, listener: (ev: any) => void): void;
  close(): void;
}

export interface EventSourceConstructor {
  new (url: string, init?: { withCredentials?: boolean }): EventSourceLike;
}

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

/** The part of `document` the client uses for `pauseWhenHidden`. */
export interface VisibilitySource {
  readonly visibilityState: string;
  addEventListener(type: 'visibilitychange', listener: () => void): void;
  removeEventListener(type: 'visibilitychange', listener: () => void): void;
}

export interface SseClientOptions {
  /**
   * The gateway's base URL (`https://host`, `/`, or `""` for the page's origin) or the
   * full connect URL (ending in `/sse/connect`, possibly with a query string).
   */
  url: string;
  /**
   * The path appended to a base URL (default `/sse/connect`). Use `""` to stream from
   * `url` exactly as given (e.g. your own endpoint that answers a POST with a stream).
   */
  path?: string;
  /** Topics to receive (the `topics` query parameter). */
  topics?: string[];
  /** Your label for this connection (the `clientId` query parameter). */
  clientId?: string;
  /** `eventsource` (native EventSource + single-use ticket) or `fetch` (fetch stream + Authorization header). Default: `eventsource` where the browser has EventSource, else `fetch`. */
  transport?: TransportKind;
  /** Returns the bearer token; called before every connect and reconnect. */
  getToken?: () => Promise<string> | string;
  /** Where the EventSource transport gets tickets (default `<base>/sse/tickets`). */
  ticketUrl?: string;
  /** Extra request headers (fetch transport; also sent with the ticket request). */
  headers?: Record<string, string>;
  /** HTTP method of the fetch transport (default `GET`). */
  method?: string;
  /** Request body of the fetch transport (a plain object is sent as JSON). */
  body?: BodyInit | Record<string, unknown> | unknown[] | null;
  /** Upper bound of the reconnect delay in ms (default 30000). */
  maxRetryMs?: number;
  /** Base of the exponential reconnect delay in ms (default 1000); the server's `retry:` raises it. */
  baseRetryMs?: number;
  /**
   * The heartbeat interval to expect before `welcome` tells the real one (seconds).
   * The watchdog reconnects after 2.5 × the interval without any event or heartbeat.
   * Set to 0 to turn the watchdog off entirely.
   */
  heartbeatSeconds?: number;
  /** Close the stream while `document.visibilityState === 'hidden'`, reopen (resuming) when visible. */
  pauseWhenHidden?: boolean;
  /** Send cookies cross-origin (EventSource `withCredentials`, fetch `credentials: 'include'`). */
  withCredentials?: boolean;
  /** A position to resume from on the first connect (e.g. saved in sessionStorage). */
  lastEventId?: string;
  /** How many recent event ids are remembered to drop duplicates (default 512). */
  dedupeCapacity?: number;
  /**
   * Extra event types the EventSource transport should listen for, so `'*'` subscribers
   * see them even without a subscriber of that exact type (native EventSource cannot
   * listen for "any type"). The fetch transport always sees every type.
   */
  eventTypes?: string[];
  /** Connect as soon as the client is created (default false; React's provider connects itself). */
  autoConnect?: boolean;

  /** Injected fetch (tests, polyfills). Default: global fetch. */
  fetch?: FetchLike;
  /** Injected EventSource class (tests, polyfills). Default: global EventSource. */
  EventSource?: EventSourceConstructor;
  /** Injected random number source in [0, 1) for the jitter. Default: Math.random. */
  random?: () => number;
  /** Injected clock and timers. */
  scheduler?: Scheduler;
  /** Injected visibility source. Default: global document. */
  document?: VisibilitySource;
}

/** What a transport reports to the client. */
export type TransportEnd =
  /** the stream ended or dropped after it was open, or could not be opened for a transient reason */
  | { kind: 'retry'; error?: Error }
  /** HTTP 204: do not come back */
  | { kind: 'stop'; status: number }
  /** a status retrying cannot fix (401, 403, 400, wrong content type …) */
  | { kind: 'fatal'; error: SseClientError };

/** An RFC 7807 `application/problem+json` body, as the gateway answers errors. */
export interface ProblemDetails {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  instance?: string;
  /** Per-field messages, when the problem names bad fields. */
  errors?: Record<string, string[]>;
  [extension: string]: unknown;
}

/** An error the client surfaces (state `error`, `client.error`, `on('error')`). */
export class SseClientError extends Error {
  constructor(
    message: string,
    /** The HTTP status, when the error came from a response. */
    readonly status?: number,
    /** The response's problem+json body, when it had one. */
    readonly problem?: ProblemDetails,
  ) {
    super(message);
    this.name = 'SseClientError';
  }
}
