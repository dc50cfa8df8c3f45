import { vi } from 'vitest';
import { SseClient } from '../src/client.js';
import type { Scheduler } from '../src/timers.js';
import type { EventSourceLike, FetchLike, SseClientOptions } from '../src/types.js';

/** A clock and timers that only move when the test says so. */
export class ManualScheduler implements Scheduler {
  time = 1_000_000;
  private nextId = 1;
  private tasks: { id: number; at: number; callback: () => void }[] = [];

  now(): number {
    return this.time;
  }

  setTimeout(callback: () => void, milliseconds: number): unknown {
    const id = this.nextId++;
    this.tasks.push({ id, at: this.time + Math.max(0, milliseconds), callback });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.tasks = this.tasks.filter((task) => task.id !== handle);
  }

  /** Delays (from now) of the pending timers, soonest first. */
  get pending(): number[] {
    return this.tasks.map((task) => task.at - this.time).sort((a, b) => a - b);
  }

  /** Moves the clock forward, running every timer that falls due, in order. */
  advance(milliseconds: number): void {
    const target = this.time + milliseconds;
    for (;;) {
      const due = this.tasks.filter((task) => task.at <= target).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.tasks = this.tasks.filter((task) => task !== due);
      this.time = due.at;
      due.callback();
    }
    this.time = target;
  }

  /** Runs the soonest timer, whatever its delay; returns that delay. */
  runNext(): number {
    const delay = this.pending[0];
    if (delay === undefined) throw new Error('no timer pending');
    this.advance(delay);
    return delay;
  }
}

/** Lets pending promise callbacks and stream reads run. */
export async function flush(rounds = 10): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((resolve) => setTimeout(resolve, 0));
}

/** A `text/event-stream` body the test writes into. */
export class FakeStream {
  readonly body: ReadableStream<Uint8Array>;
  private controller!: ReadableStreamDefaultController<Uint8Array>;
  private readonly encoder = new TextEncoder();
  cancelled = false;
  closed = false;

  constructor() {
    this.body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.controller = controller;
      },
      cancel: () => {
        this.cancelled = true;
      },
    });
  }

  write(text: string): void {
    if (this.closed || this.cancelled) return;
    this.controller.enqueue(this.encoder.encode(text));
  }

  writeBytes(bytes: Uint8Array): void {
    this.controller.enqueue(bytes);
  }

  end(): void {
    if (this.closed || this.cancelled) return;
    this.closed = true;
    this.controller.close();
  }

  fail(error: Error = new TypeError('network error')): void {
    if (this.closed || this.cancelled) return;
    this.closed = true;
    this.controller.error(error);
  }
}

export interface FetchCall {
  url: string;
  init: RequestInit;
  headers: Record<string, string>;
}

export type FakeReply = Response | Error | ((call: FetchCall) => Response | Promise<Response>);

/**
 * A fake fetch. Replies are taken from `replies` in order (per URL kind: tickets and
 * streams have their own queues); every call is recorded with its headers.
 */
export class FakeFetch {
  readonly calls: FetchCall[] = [];
  readonly ticketReplies: FakeReply[] = [];
  readonly streamReplies: FakeReply[] = [];
  private ticketCounter = 0;
  /** Called for ticket requests with no queued reply: a fresh ticket each time. */
  autoTickets = true;

  readonly fetch: FetchLike = async (input, init = {}) => {
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((value, name) => {
      headers[name] = value;
    });
    const call: FetchCall = { url: String(input), init, headers };
    this.calls.push(call);
    const isTicket = call.url.includes('/sse/tickets');
    const queue = isTicket ? this.ticketReplies : this.streamReplies;
    let reply = queue.shift();
    if (reply === undefined && isTicket && this.autoTickets) reply = this.nextTicket();
    if (reply === undefined) throw new Error(`unexpected fetch ${call.url}`);
    if (reply instanceof Error) throw reply;
    if (typeof reply === 'function') return reply(call);
    return reply;
  };

  get ticketCalls(): FetchCall[] {
    return this.calls.filter((call) => call.url.includes('/sse/tickets'));
  }

  get streamCalls(): FetchCall[] {
    return this.calls.filter((call) => !call.url.includes('/sse/tickets'));
  }

  /** A 201 ticket response with ticket `t1`, `t2`, … */
  nextTicket(): Response {
    this.ticketCounter++;
    return json(201, { ticket: `t${this.ticketCounter}`, expiresAt: '2030-01-01T00:00:00Z' });
  }

  /** Queues a 200 event stream and returns the stream to write into. */
  stream(): FakeStream {
    const stream = new FakeStream();
    this.streamReplies.push(sseResponse(stream));
    return stream;
  }

  /** Queues a bare status answer for the stream URL. */
  status(status: number): void {
    this.streamReplies.push(new Response(status === 204 ? null : 'no', { status }));
  }
}

export function sseResponse(stream: FakeStream, status = 200): Response {
  return new Response(stream.body, { status, headers: { 'content-type': 'text/event-stream; charset=utf-8' } });
}

export function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}

export function query(url: string): URLSearchParams {
  return new URL(url, 'http://gateway.test').searchParams;
}

/** A fake EventSource class, one per test, recording its instances. */
export function fakeEventSourceClass() {
  class FakeEventSource implements EventSourceLike {
    static readonly CONNECTING = 0;
    static readonly OPEN = 1;
    static readonly CLOSED = 2;
    static readonly instances: FakeEventSource[] = [];

    readyState = 0;
    onopen: ((ev: any) => any) | null = null;
    onmessage: ((ev: any) => any) | null = null;
    onerror: ((ev: any) => any) | null = null;
    closed = false;
    readonly listeners = new Map<string, Set<(ev: any) => void>>();

    constructor(
      readonly url: string,
      readonly init?: { withCredentials?: boolean },
    ) {
      FakeEventSource.instances.push(this);
    }

    static get last(): FakeEventSource {
      const last = FakeEventSource.instances[FakeEventSource.instances.length - 1];
      if (!last) throw new Error('no EventSource created');
      return last;
    }

    addEventListener(type: string, listener: (ev: any) => void): void {
      let set = this.listeners.get(type);
      if (!set) this.listeners.set(type, (set = new Set()));
      set.add(listener);
    }

    removeEventListener(type: string, listener: (ev: any) => void): void {
      this.listeners.get(type)?.delete(listener);
    }

    close(): void {
      this.closed = true;
      this.readyState = 2;
    }

    // ---- test controls ----
    private lastEventId = '';

    open(): void {
      this.readyState = 1;
      this.onopen?.({ type: 'open' });
    }

    /** Dispatches like a browser: `id` (when given) becomes the last event id. */
    emit(type: string, data: string, id?: string): void {
      if (this.closed) return;
      if (id !== undefined) this.lastEventId = id;
      const event = { type, data, lastEventId: this.lastEventId, origin: 'http://gateway.test' };
      if (type === 'message') this.onmessage?.(event);
      for (const listener of [...(this.listeners.get(type) ?? [])]) listener(event);
    }

    /** A dropped stream (browser would retry: CONNECTING) or a refused one (CLOSED). */
    fail(readyState: 0 | 2 = 0): void {
      this.readyState = readyState;
      this.onerror?.({ type: 'error' });
    }
  }
  return FakeEventSource;
}

/** A fake `document` for visibility. */
export class FakeDocument {
  visibilityState: 'visible' | 'hidden' = 'visible';
  private listeners = new Set<() => void>();

  addEventListener(_type: 'visibilitychange', listener: () => void): void {
    this.listeners.add(listener);
  }

  removeEventListener(_type: 'visibilitychange', listener: () => void): void {
    this.listeners.delete(listener);
  }

  get listenerCount(): number {
    return this.listeners.size;
  }

  set(state: 'visible' | 'hidden'): void {
    this.visibilityState = state;
    for (const listener of [...this.listeners]) listener();
  }
}

export const WELCOME = (connectionId = 'c1', heartbeatSeconds = 15) =>
  JSON.stringify({
    connectionId,
    clientId: 'tab',
    userId: 'alice',
    gatewayId: 'gw-1',
    serverTime: '2026-01-01T00:00:00Z',
    topics: [],
    heartbeatSeconds,
  });

/** A client over a FakeFetch and a ManualScheduler; its token getter counts: 'token-1', 'token-2', … */
export function fakeClient(options: Partial<SseClientOptions> = {}) {
  const server = new FakeFetch();
  const scheduler = new ManualScheduler();
  let tokens = 0;
  const getToken = vi.fn(async () => `token-${++tokens}`);
  const client = new SseClient({
    url: 'http://gateway.test',
    getToken,
    fetch: server.fetch,
    scheduler,
    random: () => 0.5,
    ...options,
  });
  return { server, scheduler, client, getToken };
}
