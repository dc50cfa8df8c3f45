import { describe, expect, it, vi } from 'vitest';
import { SseClient } from '../src/client.js';
import type { SseClientOptions, SseEvent } from '../src/types.js';
import { FakeFetch, ManualScheduler, WELCOME, fakeEventSourceClass, flush, json, query } from './helpers.js';

function setup(overrides: Partial<SseClientOptions> = {}) {
  const server = new FakeFetch();
  const scheduler = new ManualScheduler();
  const EventSource = fakeEventSourceClass();
  let tokens = 0;
  const getToken = vi.fn(() => `jwt-${++tokens}`);
  const client = new SseClient({
    url: 'http://gateway.test',
    transport: 'eventsource',
    topics: ['news'],
    clientId: 'tab-1',
    getToken,
    fetch: server.fetch,
    EventSource,
    scheduler,
    random: () => 0.5,
    ...overrides,
  });
  const events: SseEvent[] = [];
  client.subscribe('*', (e) => events.push(e));
  return { server, scheduler, client, events, EventSource, getToken };
}

type Ctx = ReturnType<typeof setup>;

/** Runs the next connect (or reconnect) until the EventSource exists, opens it and sends welcome. */
async function open(ctx: Ctx, connectionId = 'c1', id = '0.0') {
  if (ctx.client.state === 'idle') ctx.client.connect();
  else ctx.scheduler.runNext();
  await flush();
  const source = ctx.EventSource.last;
  source.open();
  source.emit('welcome', WELCOME(connectionId), id);
  return source;
}

describe('SseClient over the EventSource transport', () => {
  it('fetches a ticket with the bearer token, then opens EventSource with ticket, topics and clientId', async () => {
    const ctx = setup();
    const source = await open(ctx);
    const ticketCall = ctx.server.ticketCalls[0]!;
    expect(ticketCall.url).toBe('http://gateway.test/sse/tickets');
    expect(ticketCall.init.method).toBe('POST');
    expect(ticketCall.headers['authorization']).toBe('Bearer jwt-1');
    const q = query(source.url);
    expect(source.url.startsWith('http://gateway.test/sse/connect?')).toBe(true);
    expect(q.get('ticket')).toBe('t1');
    expect(q.get('topics')).toBe('news');
    expect(q.get('clientId')).toBe('tab-1');
    expect(q.has('lastEventId')).toBe(false);
    expect(source.url).not.toContain('jwt');
    expect(ctx.client.state).toBe('open');
    expect(ctx.client.connectionId).toBe('c1');
  });

  it('uses a custom ticket URL', async () => {
    const ctx = setup({ ticketUrl: 'http://auth.test/sse/tickets' });
    await open(ctx);
    expect(ctx.server.ticketCalls[0]!.url).toBe('http://auth.test/sse/tickets');
  });

  it('delivers default and named events, and listens for types subscribed later', async () => {
    const ctx = setup();
    const source = await open(ctx);
    const notices: SseEvent[] = [];
    ctx.client.subscribe('notice', (e) => notices.push(e));
    source.emit('message', '{"n":1}', '1.0');
    source.emit('notice', '{"title":"hi"}', '2.0');
    source.emit('unheard', 'x', '3.0'); // nobody listens for this type
    expect(notices.map((e) => e.data)).toEqual([{ title: 'hi' }]);
    expect(ctx.events.map((e) => e.type)).toEqual(['welcome', 'message', 'notice']);
    expect(ctx.client.lastEventId).toBe('2.0');
  });

  it('listens for extra types given in eventTypes, for "*" subscribers', async () => {
    const ctx = setup({ eventTypes: ['audit'] });
    const source = await open(ctx);
    source.emit('audit', '1', '1.0');
    expect(ctx.events.map((e) => e.type)).toEqual(['welcome', 'audit']);
  });

  it('closes the EventSource on error and reconnects with its own backoff, a fresh ticket and lastEventId', async () => {
    const ctx = setup({ random: () => 0.999999 });
    const first = await open(ctx);
    first.emit('message', '"a"', '1.0');
    first.fail(0); // the browser would retry by itself (CONNECTING)
    expect(first.closed).toBe(true);
    expect(ctx.client.state).toBe('reconnecting');
    expect(ctx.scheduler.pending).toEqual([999]);
    const second = await open(ctx, 'c2', '1.0');
    expect(ctx.server.ticketCalls).toHaveLength(2);
    expect(ctx.server.ticketCalls[1]!.headers['authorization']).toBe('Bearer jwt-2');
    expect(query(second.url).get('ticket')).toBe('t2');
    expect(query(second.url).get('lastEventId')).toBe('1.0');
    expect(ctx.EventSource.instances).toHaveLength(2);
  });

  it('fetches a fresh ticket before every reconnect and uses each ticket once', async () => {
    const ctx = setup();
    let source = await open(ctx);
    for (let i = 0; i < 4; i++) {
      source.emit('message', String(i), `${i + 1}.0`);
      source.fail(0);
      source = await open(ctx, `c${i + 2}`, `${i + 1}.0`);
    }
    const tickets = ctx.EventSource.instances.map((s) => query(s.url).get('ticket'));
    expect(tickets).toEqual(['t1', 't2', 't3', 't4', 't5']);
    expect(ctx.server.ticketCalls).toHaveLength(5);
    expect(ctx.getToken).toHaveBeenCalledTimes(5);
    expect(query(source.url).get('lastEventId')).toBe('4.0');
    // Every ticket was asked for right before its own EventSource, never reused.
    expect(new Set(tickets).size).toBe(5);
  });

  it('drops duplicates by id across reconnects', async () => {
    const ctx = setup();
    const first = await open(ctx);
    first.emit('message', '"a"', '1.0');
    first.emit('message', '"b"', '2.0');
    first.fail(0);
    const second = await open(ctx, 'c2', '1.0');
    second.emit('message', '"b"', '2.0');
    second.emit('message', '"c"', '3.0');
    expect(ctx.events.filter((e) => e.type === 'message').map((e) => e.data)).toEqual(['a', 'b', 'c']);
  });

  it('does not treat events inheriting the previous id as duplicates', async () => {
    const ctx = setup();
    const source = await open(ctx);
    source.emit('message', '"a"', '1.0');
    source.emit('heartbeat', '{"timestamp":1}');
    source.emit('message', '"no own id"');
    expect(ctx.events.map((e) => e.type)).toEqual(['welcome', 'message', 'heartbeat', 'message']);
  });

  it('stops for good on close with reconnect:false', async () => {
    const ctx = setup();
    const source = await open(ctx);
    source.emit('close', '{"reason":"disconnected","reconnect":false}');
    expect(ctx.client.state).toBe('closed');
    expect(source.closed).toBe(true);
    expect(ctx.scheduler.pending).toEqual([]);
  });

  it('reconnects with a fresh ticket on close with reconnect:true', async () => {
    const ctx = setup();
    const source = await open(ctx);
    source.emit('close', '{"reason":"shutdown","reconnect":true}');
    expect(source.closed).toBe(true);
    expect(ctx.client.state).toBe('reconnecting');
    // No retry: visible to EventSource, so the base (1000) plus jitter (0.5 × 1000).
    expect(ctx.scheduler.pending).toEqual([1500]);
    const next = await open(ctx, 'c2');
    expect(query(next.url).get('ticket')).toBe('t2');
  });

  it('learns that a refused connect was a 204 and stops for good', async () => {
    const ctx = setup();
    ctx.client.connect();
    await flush();
    ctx.server.status(204);
    ctx.EventSource.last.fail(2); // refused before open: CLOSED
    await flush();
    expect(ctx.client.state).toBe('closed');
    const probe = ctx.server.streamCalls[0]!;
    expect(query(probe.url).get('ticket')).toBe('t2'); // the probe used its own fresh ticket
    expect(ctx.scheduler.pending).toEqual([]);
  });

  it.each([401, 403])('learns that a refused connect was a %i and surfaces an error', async (status) => {
    const ctx = setup();
    ctx.client.connect();
    await flush();
    ctx.server.status(status);
    ctx.EventSource.last.fail(2);
    await flush();
    expect(ctx.client.state).toBe('error');
    expect(ctx.client.error?.status).toBe(status);
  });

  it('retries a refused connect whose probe answers 502', async () => {
    const ctx = setup();
    ctx.client.connect();
    await flush();
    ctx.server.status(502);
    ctx.EventSource.last.fail(2);
    await flush();
    expect(ctx.client.state).toBe('reconnecting');
    expect(ctx.scheduler.pending).toHaveLength(1);
  });

  it('surfaces an error when the ticket request answers 401', async () => {
    const ctx = setup();
    ctx.server.ticketReplies.push(json(401, { title: 'Unauthorized' }));
    ctx.client.connect();
    await flush();
    expect(ctx.client.state).toBe('error');
    expect(ctx.client.error?.status).toBe(401);
    expect(ctx.EventSource.instances).toHaveLength(0);
  });

  it('retries when the ticket request fails', async () => {
    const ctx = setup();
    ctx.server.ticketReplies.push(new TypeError('offline'));
    ctx.client.connect();
    await flush();
    expect(ctx.client.state).toBe('reconnecting');
    await open(ctx);
    expect(ctx.client.state).toBe('open');
  });

  it('relies on cookies without getToken: no ticket, withCredentials passed', async () => {
    const ctx = setup({ getToken: undefined, withCredentials: true });
    const source = await open(ctx);
    expect(ctx.server.calls).toHaveLength(0);
    expect(query(source.url).has('ticket')).toBe(false);
    expect(source.init).toEqual({ withCredentials: true });
  });

  it('starts the heartbeat watchdog once heartbeat events show up', async () => {
    const ctx = setup();
    const source = await open(ctx); // welcome says 15 s
    ctx.scheduler.advance(120000);
    expect(ctx.client.state).toBe('open'); // comment heartbeats are invisible to EventSource: no watchdog yet
    source.emit('heartbeat', '{"timestamp":1}');
    ctx.scheduler.advance(37499);
    expect(ctx.client.state).toBe('open');
    ctx.scheduler.advance(1);
    expect(ctx.client.state).toBe('reconnecting');
    expect(source.closed).toBe(true);
  });

  it('disconnect() closes the EventSource and cancels a pending reconnect', async () => {
    const ctx = setup();
    const source = await open(ctx);
    source.fail(0);
    expect(ctx.scheduler.pending).toHaveLength(1);
    ctx.client.disconnect();
    expect(ctx.scheduler.pending).toEqual([]);
    expect(ctx.client.state).toBe('closed');
  });

  it('disconnect() during the ticket request opens nothing', async () => {
    const ctx = setup();
    ctx.client.connect();
    ctx.client.disconnect();
    await flush();
    expect(ctx.EventSource.instances).toHaveLength(0);
    expect(ctx.client.state).toBe('closed');
  });

  it('removes its listeners from a closed EventSource', async () => {
    const ctx = setup();
    ctx.client.subscribe('notice', () => undefined);
    const source = await open(ctx);
    expect(source.listeners.get('notice')?.size).toBe(1);
    ctx.client.disconnect();
    expect(source.listeners.get('notice')?.size).toBe(0);
    expect(source.onmessage).toBeNull();
  });

  it('fails clearly when no EventSource exists', async () => {
    const ctx = setup({ EventSource: undefined });
    const had = (globalThis as { EventSource?: unknown }).EventSource;
    delete (globalThis as { EventSource?: unknown }).EventSource;
    try {
      ctx.client.connect();
      await flush();
      expect(ctx.client.state).toBe('error');
    } finally {
      if (had) (globalThis as { EventSource?: unknown }).EventSource = had;
    }
  });
});
