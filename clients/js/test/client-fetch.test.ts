import { describe, expect, it, vi } from 'vitest';
import { SseClient } from '../src/client.js';
import type { SseClientOptions, SseEvent } from '../src/types.js';
import { FakeDocument, FakeStream, WELCOME, fakeClient, flush, json, query, sseResponse } from './helpers.js';

function setup(overrides: Partial<SseClientOptions> = {}) {
  const { server, scheduler, client, getToken } = fakeClient({ transport: 'fetch', topics: ['news', 'sports'], clientId: 'tab-1', ...overrides });
  const events: SseEvent[] = [];
  client.subscribe('*', (e) => events.push(e));
  const states: string[] = [];
  client.on('state', (s) => states.push(s));
  return { server, scheduler, client, events, states, getToken };
}

/** Opens the client on a fresh stream that has sent `retry` and `welcome`. */
async function open(ctx: ReturnType<typeof setup>, connectionId = 'c1', id = '0.0', heartbeatSeconds = 15): Promise<FakeStream> {
  const stream = ctx.server.stream();
  if (ctx.client.state === 'idle' || ctx.client.state === 'closed') ctx.client.connect();
  else ctx.scheduler.runNext();
  await flush();
  stream.write(`retry: 1000\n\nevent: welcome\nid: ${id}\ndata: ${WELCOME(connectionId, heartbeatSeconds)}\n\n`);
  await flush();
  return stream;
}

describe('SseClient over the fetch transport', () => {
  it('connects with the bearer header, Accept and query parameters, never a token in the URL', async () => {
    const ctx = setup();
    await open(ctx);
    const call = ctx.server.streamCalls[0]!;
    expect(call.url.startsWith('http://gateway.test/sse/connect?')).toBe(true);
    expect(query(call.url).get('topics')).toBe('news,sports');
    expect(query(call.url).get('clientId')).toBe('tab-1');
    expect(call.url).not.toContain('token');
    expect(call.headers['authorization']).toBe('Bearer token-1');
    expect(call.headers['accept']).toBe('text/event-stream');
    expect(call.headers['last-event-id']).toBeUndefined();
    expect(call.init.method).toBe('GET');
    expect(ctx.server.ticketCalls).toHaveLength(0);
  });

  it('goes idle → connecting → open and takes connectionId and lastEventId from welcome', async () => {
    const ctx = setup();
    expect(ctx.client.state).toBe('idle');
    await open(ctx, 'conn-42', '3.1');
    expect(ctx.states).toEqual(['connecting', 'open']);
    expect(ctx.client.connectionId).toBe('conn-42');
    expect(ctx.client.lastEventId).toBe('3.1');
    expect(ctx.client.welcome?.gatewayId).toBe('gw-1');
    expect(ctx.events.map((e) => e.type)).toEqual(['welcome']);
  });

  it('hands subscribers type, parsed data, raw, id and receivedAt', async () => {
    const ctx = setup();
    const stream = await open(ctx);
    const orders: SseEvent[] = [];
    ctx.client.subscribe('order.updated', (e) => orders.push(e));
    stream.write('event: order.updated\nid: 1.0\ndata: {"order":7,\ndata: "state":"paid"}\n\n');
    stream.write('id: 2.0\ndata: plain text\n\n');
    await flush();
    expect(orders).toEqual([
      { type: 'order.updated', data: { order: 7, state: 'paid' }, raw: '{"order":7,\n"state":"paid"}', id: '1.0', receivedAt: ctx.scheduler.now() },
    ]);
    const message = ctx.events.find((e) => e.type === 'message')!;
    expect(message.data).toBe('plain text');
    expect(message.raw).toBe('plain text');
    expect(ctx.client.lastEventId).toBe('2.0');
  });

  it('supports once() and unsubscribing', async () => {
    const ctx = setup();
    const stream = await open(ctx);
    const once = vi.fn();
    const every = vi.fn();
    ctx.client.once('tick', once);
    const off = ctx.client.subscribe('tick', every);
    stream.write('event: tick\nid: 1.0\ndata: 1\n\nevent: tick\nid: 2.0\ndata: 2\n\n');
    await flush();
    off();
    stream.write('event: tick\nid: 3.0\ndata: 3\n\n');
    await flush();
    expect(once).toHaveBeenCalledTimes(1);
    expect(every.mock.calls.map((c) => c[0].data)).toEqual([1, 2]);
    const other = vi.fn();
    ctx.client.subscribe('tick', other);
    ctx.client.unsubscribe('tick', other);
    stream.write('event: tick\nid: 4.0\ndata: 4\n\n');
    await flush();
    expect(other).not.toHaveBeenCalled();
  });

  it('keeps delivering to the other subscribers when one throws', async () => {
    const ctx = setup();
    const reportError = vi.fn();
    vi.stubGlobal('reportError', reportError);
    try {
      const stream = await open(ctx);
      const good = vi.fn();
      ctx.client.subscribe('x', () => {
        throw new Error('bad handler');
      });
      ctx.client.subscribe('x', good);
      stream.write('event: x\nid: 1.0\ndata: 1\n\n');
      await flush();
      expect(good).toHaveBeenCalledTimes(1);
      expect(reportError).toHaveBeenCalledTimes(1);
    } finally {
      vi.unstubAllGlobals();
    }
  });

  it('reconnects after the stream ends, with a fresh token and Last-Event-ID', async () => {
    const ctx = setup();
    const stream = await open(ctx);
    stream.write('event: note\nid: 5.0\ndata: {}\n\n');
    await flush();
    stream.end();
    await flush();
    expect(ctx.client.state).toBe('reconnecting');
    expect(ctx.client.connectionId).toBeNull();
    await open(ctx, 'c2', '5.0');
    const second = ctx.server.streamCalls[1]!;
    expect(second.headers['last-event-id']).toBe('5.0');
    expect(second.headers['authorization']).toBe('Bearer token-2');
    expect(ctx.getToken).toHaveBeenCalledTimes(2);
    expect(ctx.client.state).toBe('open');
    expect(ctx.client.connectionId).toBe('c2');
  });

  it('drops an event delivered again with an id already seen', async () => {
    const ctx = setup();
    const stream = await open(ctx);
    stream.write('id: 1.0\ndata: "a"\n\nid: 2.0\ndata: "b"\n\n');
    await flush();
    stream.end();
    await flush();
    const replay = await open(ctx, 'c2', '1.0');
    // A replay that overlaps what was already delivered.
    replay.write('id: 2.0\ndata: "b"\n\nid: 3.0\ndata: "c"\n\n');
    await flush();
    expect(ctx.events.filter((e) => e.type === 'message').map((e) => e.data)).toEqual(['a', 'b', 'c']);
    expect(ctx.client.lastEventId).toBe('3.0');
  });

  it('never drops events without an id of their own, nor control events', async () => {
    const ctx = setup();
    const stream = await open(ctx);
    stream.write('id: 1.0\ndata: "a"\n\ndata: "no id"\n\ndata: "no id"\n\nevent: heartbeat\ndata: {"timestamp":1}\n\nevent: heartbeat\ndata: {"timestamp":2}\n\n');
    await flush();
    expect(ctx.events.map((e) => e.data)).toEqual([expect.anything(), 'a', 'no id', 'no id', { timestamp: 1 }, { timestamp: 2 }]);
  });

  it('forgets the remembered ids after a reset, so restarted positions are not dropped', async () => {
    const ctx = setup();
    const stream = await open(ctx);
    stream.write('id: 1.0\ndata: "before"\n\n');
    await flush();
    stream.end();
    await flush();
    // A gateway that lost its history (restart with in-memory routing) numbers from 1 again.
    const fresh = await open(ctx, 'c2', '0.0');
    fresh.write('event: reset\ndata: {"reason":"history-gap","streams":["u:alice"]}\n\nid: 1.0\ndata: "after"\n\n');
    await flush();
    expect(ctx.events.filter((e) => e.type === 'message').map((e) => e.data)).toEqual(['before', 'after']);
  });

  it('uses the lastEventId option on the first connect', async () => {
    const ctx = setup({ lastEventId: 'saved.1' });
    await open(ctx);
    expect(ctx.server.streamCalls[0]!.headers['last-event-id']).toBe('saved.1');
  });

  it('reconnects with backoff after a network error, growing the delay until welcome resets it', async () => {
    const ctx = setup({ random: () => 0.999999 });
    ctx.server.streamReplies.push(new TypeError('fetch failed'), new TypeError('fetch failed'), new TypeError('fetch failed'));
    ctx.client.connect();
    await flush();
    expect(ctx.client.state).toBe('reconnecting');
    const delays = [ctx.scheduler.runNext()];
    await flush();
    delays.push(ctx.scheduler.runNext());
    await flush();
    delays.push(ctx.scheduler.pending[0]!);
    expect(delays).toEqual([999, 1999, 3999]);
    const stream = await open(ctx);
    expect(ctx.client.state).toBe('open');
    stream.end();
    await flush();
    // The welcome reset the attempt counter: back to the first step (server retry 1000).
    expect(ctx.scheduler.pending).toEqual([999]);
  });

  it("honours the server's retry as the backoff base", async () => {
    const ctx = setup({ random: () => 0.999999 });
    const stream = ctx.server.stream();
    ctx.client.connect();
    await flush();
    stream.write('retry: 4000\n\nevent: welcome\nid: 0.0\ndata: ' + WELCOME() + '\n\n');
    await flush();
    stream.end();
    await flush();
    expect(ctx.scheduler.pending).toEqual([3999]);
  });

  it('stops for good on HTTP 204', async () => {
    const ctx = setup();
    ctx.server.status(204);
    ctx.client.connect();
    await flush();
    expect(ctx.client.state).toBe('closed');
    expect(ctx.scheduler.pending).toEqual([]);
    expect(ctx.server.streamCalls).toHaveLength(1);
  });

  it.each([401, 403])('stops with an error state on HTTP %i', async (status) => {
    const ctx = setup();
    const errors: unknown[] = [];
    ctx.client.on('error', (e) => errors.push(e));
    ctx.server.status(status);
    ctx.client.connect();
    await flush();
    expect(ctx.client.state).toBe('error');
    expect(ctx.client.error?.status).toBe(status);
    expect(errors).toHaveLength(1);
    expect(ctx.scheduler.pending).toEqual([]);
  });

  it('retries on HTTP 503', async () => {
    const ctx = setup();
    ctx.server.status(503);
    ctx.client.connect();
    await flush();
    expect(ctx.client.state).toBe('reconnecting');
    expect(ctx.scheduler.pending).toHaveLength(1);
  });

  it('refuses a response that is not an event stream', async () => {
    const ctx = setup();
    ctx.server.streamReplies.push(json(200, { hello: 'world' }));
    ctx.client.connect();
    await flush();
    expect(ctx.client.state).toBe('error');
  });

  it('stops for good on close with reconnect:false', async () => {
    const ctx = setup();
    const stream = await open(ctx);
    stream.write('event: close\ndata: {"reason":"disconnected","reconnect":false}\n\n');
    await flush();
    expect(ctx.client.state).toBe('closed');
    expect(stream.cancelled).toBe(true);
    expect(ctx.scheduler.pending).toEqual([]);
    expect(ctx.events.at(-1)?.data).toEqual({ reason: 'disconnected', reconnect: false });
  });

  it("reconnects after the server's retry plus jitter on close with reconnect:true", async () => {
    const ctx = setup({ random: () => 0.5 });
    const stream = ctx.server.stream();
    ctx.client.connect();
    await flush();
    stream.write('retry: 2000\n\nevent: close\ndata: {"reason":"overloaded","reconnect":true}\n\n');
    await flush();
    expect(ctx.client.state).toBe('reconnecting');
    expect(ctx.scheduler.pending).toEqual([3000]); // 2000 + 0.5 × 2000
    ctx.server.stream();
    ctx.scheduler.advance(2999);
    await flush();
    expect(ctx.server.streamCalls).toHaveLength(1);
    ctx.scheduler.advance(1);
    await flush();
    expect(ctx.server.streamCalls).toHaveLength(2);
  });

  it('surfaces reset as a normal event', async () => {
    const ctx = setup();
    const stream = await open(ctx);
    const resets = vi.fn();
    ctx.client.subscribe('reset', resets);
    stream.write('event: reset\nid: 9.9\ndata: {"reason":"history-gap","streams":["u:alice"]}\n\n');
    await flush();
    expect(resets).toHaveBeenCalledWith(expect.objectContaining({ type: 'reset', data: { reason: 'history-gap', streams: ['u:alice'] } }));
  });

  it('reconnects when nothing arrives for 2.5 heartbeat intervals', async () => {
    const ctx = setup();
    const stream = await open(ctx, 'c1', '0.0', 10);
    ctx.scheduler.advance(20000);
    stream.write(': heartbeat\n'); // comments count as liveness
    await flush();
    ctx.scheduler.advance(20000);
    stream.write('event: heartbeat\ndata: {"timestamp":1}\n\n');
    await flush();
    ctx.scheduler.advance(24999);
    expect(ctx.client.state).toBe('open');
    ctx.scheduler.advance(1);
    expect(ctx.client.state).toBe('reconnecting');
    expect(stream.cancelled).toBe(true);
    await open(ctx, 'c2');
    expect(ctx.server.streamCalls[1]!.headers['last-event-id']).toBe('0.0');
  });

  it('does not watch heartbeats when heartbeatSeconds is 0', async () => {
    const ctx = setup({ heartbeatSeconds: 0 });
    await open(ctx);
    ctx.scheduler.advance(3600_000);
    expect(ctx.client.state).toBe('open');
  });

  it('disconnect() aborts the request and stays closed', async () => {
    const ctx = setup();
    const stream = await open(ctx);
    ctx.client.disconnect();
    await flush();
    expect(ctx.client.state).toBe('closed');
    expect((ctx.server.streamCalls[0]!.init.signal as AbortSignal).aborted).toBe(true);
    expect(stream.cancelled).toBe(true);
    expect(ctx.scheduler.pending).toEqual([]);
  });

  it('reconnect() opens a new stream at once, resuming', async () => {
    const ctx = setup();
    const first = await open(ctx);
    first.write('id: 4.0\ndata: 1\n\n');
    await flush();
    const second = ctx.server.stream();
    ctx.client.reconnect();
    await flush();
    expect(first.cancelled).toBe(true);
    expect(ctx.server.streamCalls[1]!.headers['last-event-id']).toBe('4.0');
    second.write('event: welcome\nid: 4.0\ndata: ' + WELCOME('c9') + '\n\n');
    await flush();
    expect(ctx.client.connectionId).toBe('c9');
  });

  it('sends a POST body for streaming answers', async () => {
    const ctx = setup({ url: 'http://app.test/api/answer', path: '', method: 'POST', body: { question: 'why?' }, topics: undefined, clientId: undefined });
    const stream = ctx.server.stream();
    ctx.client.connect();
    await flush();
    stream.write('data: {"token":"Be"}\n\ndata: {"token":"cause"}\n\n');
    await flush();
    const call = ctx.server.streamCalls[0]!;
    expect(call.url).toBe('http://app.test/api/answer');
    expect(call.init.method).toBe('POST');
    expect(call.init.body).toBe('{"question":"why?"}');
    expect(call.headers['content-type']).toBe('application/json');
    expect(ctx.events.map((e) => (e.data as { token: string }).token).join('')).toBe('Because');
  });

  it('decodes UTF-8 split across chunks and strips a BOM', async () => {
    const ctx = setup();
    const stream = ctx.server.stream();
    ctx.client.connect();
    await flush();
    const bytes = new TextEncoder().encode('\uFEFFdata: "h\u00e9llo \u2603"\n\n');
    for (const byte of bytes) stream.writeBytes(new Uint8Array([byte]));
    await flush(20);
    expect(ctx.events.map((e) => e.data)).toEqual(['h\u00e9llo \u2603']);
  });

  it('stops delivering at once when a handler disconnects mid-chunk', async () => {
    const ctx = setup();
    const stream = await open(ctx);
    const seen: unknown[] = [];
    ctx.client.subscribe('message', (e) => {
      seen.push(e.data);
      ctx.client.disconnect();
    });
    stream.write('id: 1.0\ndata: 1\n\nid: 2.0\ndata: 2\n\n');
    await flush();
    expect(seen).toEqual([1]);
  });

  it('pauses while the page is hidden and resumes when visible', async () => {
    const doc = new FakeDocument();
    const ctx = setup({ pauseWhenHidden: true, document: doc });
    const stream = await open(ctx);
    stream.write('id: 7.0\ndata: 1\n\n');
    await flush();
    doc.set('hidden');
    expect(ctx.client.state).toBe('paused');
    expect(stream.cancelled).toBe(true);
    ctx.scheduler.advance(600000);
    expect(ctx.server.streamCalls).toHaveLength(1);
    const next = ctx.server.stream();
    doc.set('visible');
    expect(ctx.client.state).toBe('reconnecting');
    await flush();
    expect(ctx.server.streamCalls[1]!.headers['last-event-id']).toBe('7.0');
    next.write('event: welcome\nid: 7.0\ndata: ' + WELCOME('c2') + '\n\n');
    await flush();
    expect(ctx.client.state).toBe('open');
    ctx.client.disconnect();
    expect(doc.listenerCount).toBe(0);
  });

  it('starts paused when connect() is called on a hidden page', async () => {
    const doc = new FakeDocument();
    doc.visibilityState = 'hidden';
    const ctx = setup({ pauseWhenHidden: true, document: doc });
    ctx.client.connect();
    expect(ctx.client.state).toBe('paused');
    expect(ctx.server.calls).toHaveLength(0);
  });

  it('notifies change listeners with a stable snapshot', async () => {
    const ctx = setup();
    const snapshots = new Set<object>();
    ctx.client.on('change', (s) => snapshots.add(s));
    const before = ctx.client.getSnapshot();
    expect(ctx.client.getSnapshot()).toBe(before);
    await open(ctx, 'c5', '1.2');
    const after = ctx.client.getSnapshot();
    expect(after).toMatchObject({ state: 'open', connectionId: 'c5', lastEventId: '1.2' });
    expect(snapshots.has(after)).toBe(true);
  });

  it('resets the last event id on a lone id: line', async () => {
    const ctx = setup();
    const stream = await open(ctx);
    stream.write('id:\n\n');
    await flush();
    expect(ctx.client.lastEventId).toBe('');
  });

  it('reports a response without body as a retry', async () => {
    const ctx = setup();
    ctx.server.streamReplies.push(new Response(null, { status: 200, headers: { 'content-type': 'text/event-stream' } }));
    ctx.client.connect();
    await flush();
    expect(ctx.client.state).toBe('reconnecting');
  });

  it('works with a full connect URL', async () => {
    const ctx = setup({ url: 'http://gateway.test/sse/connect?extra=1' });
    await open(ctx);
    const url = ctx.server.streamCalls[0]!.url;
    expect(url.startsWith('http://gateway.test/sse/connect?extra=1&')).toBe(true);
    expect(query(url).get('topics')).toBe('news,sports');
  });

  it('has the stream response helper produce a proper event stream', () => {
    const r = sseResponse(new FakeStream());
    expect(r.headers.get('content-type')).toContain('text/event-stream');
  });
});
