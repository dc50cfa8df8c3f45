// @vitest-environment jsdom
import { afterEach, describe, expect, it } from 'vitest';
import { act, createElement, StrictMode, useState } from 'react';
import type { ReactNode } from 'react';
import { createRoot } from 'react-dom/client';
import type { Root } from 'react-dom/client';
import { SSEProvider, useAnswer, useSSE, useSSEContext, useSSEEvent, useSSEEvents } from '../src/react.js';
import type { SSEContextValue, UseAnswerResult } from '../src/react.js';
import type { SseEvent } from '../src/types.js';
import { FakeFetch, ManualScheduler, WELCOME, flush } from './helpers.js';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

let root: Root | undefined;
let container: HTMLElement | undefined;

afterEach(() => {
  act(() => root?.unmount());
  container?.remove();
  root = undefined;
});

function render(element: ReactNode) {
  container = document.createElement('div');
  document.body.appendChild(container);
  root = createRoot(container);
  act(() => root!.render(element));
}

async function settle() {
  await act(async () => {
    await flush();
  });
}

describe('React bindings', () => {
  it('shares one connection and exposes its state, connectionId and events', async () => {
    const server = new FakeFetch();
    const stream = server.stream();
    const scheduler = new ManualScheduler();
    const seen: { value?: SSEContextValue } = {};
    const notices: SseEvent[] = [];
    const multi: string[] = [];

    function Status() {
      const sse = useSSE();
      seen.value = sse;
      return createElement('span', { id: 'status' }, `${sse.connectionState}:${sse.connectionId ?? '-'}:${sse.isConnected}`);
    }
    function Notices() {
      useSSEEvent('notice', (e) => notices.push(e));
      useSSEEvents({ a: (e) => multi.push('a' + e.raw), b: (e) => multi.push('b' + e.raw) });
      return null;
    }

    render(
      createElement(
        StrictMode,
        null,
        createElement(
          SSEProvider,
          { url: 'http://gateway.test', transport: 'fetch', getToken: () => 'jwt', fetch: server.fetch, scheduler },
          createElement(Status),
          createElement(Notices),
        ),
      ),
    );
    await settle();
    stream.write('event: welcome\nid: 0.0\ndata: ' + WELCOME('conn-7') + '\n\n');
    await settle();
    expect(container!.textContent).toBe('open:conn-7:true');
    expect(seen.value!.lastEventId).toBe('0.0');
    // StrictMode mounts twice: still only one live stream.
    const live = server.streamCalls.filter((c) => !(c.init.signal as AbortSignal).aborted);
    expect(live).toHaveLength(1);

    stream.write('event: notice\nid: 1.0\ndata: {"title":"hello"}\n\nevent: a\nid: 2.0\ndata: 1\n\nevent: b\nid: 3.0\ndata: 2\n\n');
    await settle();
    expect(notices.map((e) => e.data)).toEqual([{ title: 'hello' }]);
    expect(multi).toEqual(['a1', 'b2']);
    multi.length = 0;
    expect(seen.value!.lastEventId).toBe('3.0');

    // The functions keep their identity while events arrive.
    const firstSubscribe = seen.value!.subscribe;
    stream.write('event: a\nid: 4.0\ndata: 3\n\n');
    await settle();
    expect(seen.value!.lastEventId).toBe('4.0');
    expect(seen.value!.subscribe).toBe(firstSubscribe);

    act(() => seen.value!.disconnect());
    expect(container!.textContent).toBe('closed:-:false');
  });

  it('subscribe() from the hook returns an unsubscribe function', async () => {
    const server = new FakeFetch();
    const stream = server.stream();
    const got: unknown[] = [];
    let api: SSEContextValue | undefined;
    function Grab() {
      api = useSSEContext();
      return null;
    }
    render(createElement(SSEProvider, { url: 'http://gateway.test', transport: 'fetch', fetch: server.fetch }, createElement(Grab)));
    await settle();
    const off = api!.subscribe('x', (e) => got.push(e.data));
    stream.write('event: x\nid: 1\ndata: 1\n\n');
    await settle();
    off();
    stream.write('event: x\nid: 2\ndata: 2\n\n');
    await settle();
    expect(got).toEqual([1]);
  });

  it('disconnects when unmounted and reconnects when the connection options change', async () => {
    const server = new FakeFetch();
    server.stream();
    server.stream();
    let setTopics: (t: string[]) => void = () => undefined;
    function App() {
      const [topics, set] = useState(['a']);
      setTopics = set;
      return createElement(SSEProvider, { url: 'http://gateway.test', transport: 'fetch', fetch: server.fetch, topics });
    }
    render(createElement(App));
    await settle();
    expect(server.streamCalls).toHaveLength(1);
    act(() => setTopics(['a', 'b']));
    await settle();
    expect(server.streamCalls).toHaveLength(2);
    expect((server.streamCalls[0]!.init.signal as AbortSignal).aborted).toBe(true);
    expect(server.streamCalls[1]!.url).toContain('topics=a%2Cb');
    act(() => root!.unmount());
    root = undefined;
    expect((server.streamCalls[1]!.init.signal as AbortSignal).aborted).toBe(true);
  });

  it('useSSE(options) opens a connection of its own, closed on unmount, with events through useSSEEvent', async () => {
    const server = new FakeFetch();
    const stream = server.stream();
    const scheduler = new ManualScheduler();
    const notices: SseEvent[] = [];

    function Standalone() {
      const sse = useSSE({ url: 'http://gateway.test', transport: 'fetch', getToken: () => 'jwt', fetch: server.fetch, scheduler, topics: ['room-7'] });
      useSSEEvent('notice', (e) => notices.push(e), sse);
      return createElement('span', null, `${sse.connectionState}:${sse.connectionId ?? '-'}`);
    }

    render(createElement(Standalone));
    await settle();
    stream.write('event: welcome\nid: 0.0\ndata: ' + WELCOME('own-1') + '\n\nevent: notice\nid: 1.0\ndata: {"n":1}\n\n');
    await settle();
    expect(container!.textContent).toBe('open:own-1');
    expect(notices.map((e) => e.data)).toEqual([{ n: 1 }]);
    const live = server.streamCalls.filter((c) => !(c.init.signal as AbortSignal).aborted);
    expect(live).toHaveLength(1);
    expect(live[0]!.url).toContain('topics=room-7');

    act(() => root!.unmount());
    root = undefined;
    expect(server.streamCalls.every((c) => (c.init.signal as AbortSignal).aborted)).toBe(true);
  });

  it('throws a clear error outside a provider', () => {
    function Orphan() {
      useSSE();
      return null;
    }
    const errors: unknown[] = [];
    const onError = (e: ErrorEvent) => {
      errors.push(e.error);
      e.preventDefault();
    };
    window.addEventListener('error', onError);
    try {
      expect(() => render(createElement(Orphan))).toThrow(/SSEProvider/);
    } finally {
      window.removeEventListener('error', onError);
    }
  });

  it('useAnswer streams an answer into state, resumes after a cut, and cancels', async () => {
    const server = new FakeFetch();
    const scheduler = new ManualScheduler();
    let api: UseAnswerResult | undefined;
    function Chat() {
      api = useAnswer({ url: 'http://gateway.test', getToken: () => 'jwt', fetch: server.fetch, scheduler, random: () => 0 });
      return createElement('output', null, `${api.status}|${api.answerId ?? '-'}|${api.text}`);
    }
    render(createElement(StrictMode, null, createElement(Chat)));
    expect(container!.textContent).toBe('idle|-|');

    const first = server.stream();
    let finished: Promise<unknown> | undefined;
    act(() => {
      finished = api!.ask({ question: 'Why?' });
    });
    expect(container!.textContent).toBe('asking|-|');
    await settle();
    expect(server.calls[0]!.init.method).toBe('POST');
    expect(server.calls[0]!.init.body).toBe('{"question":"Why?"}');
    first.write('event: answer\nid: 1-e\ndata: {"answerId":"A7","userId":"u"}\n\nid: 2-e\nevent: chunk\ndata: "Hel"\n\n');
    await settle();
    expect(container!.textContent).toBe('streaming|A7|Hel');

    // Cut mid-answer: the hook shows resuming, then the rest arrives once.
    first.fail();
    await settle();
    expect(container!.textContent).toBe('resuming|A7|Hel');
    const second = server.stream();
    act(() => scheduler.runNext());
    await settle();
    expect(server.calls[1]!.url).toBe('http://gateway.test/sse/answers/A7');
    expect(server.calls[1]!.headers['last-event-id']).toBe('2-e');
    second.write('id: 2-e\nevent: chunk\ndata: "Hel"\n\nid: 3-e\nevent: chunk\ndata: "lo"\n\nid: 4-e\nevent: done\ndata: {"answerId":"A7"}\n\n');
    await settle();
    expect(container!.textContent).toBe('done|A7|Hello');
    expect(api!.chunks.map((c) => c.id)).toEqual(['2-e', '3-e']);
    expect(api!.error).toBeNull();
    await act(async () => {
      expect(((await finished) as { text: string }).text).toBe('Hello');
    });

    // A second question: cancelled mid-answer, nothing more is requested.
    const third = server.stream();
    act(() => void api!.ask({ question: 'And?' }));
    await settle();
    third.write('event: answer\nid: 1-e\ndata: {"answerId":"A8","userId":"u"}\n\nid: 2-e\nevent: chunk\ndata: "Par"\n\n');
    await settle();
    expect(container!.textContent).toBe('streaming|A8|Par');
    act(() => api!.cancel());
    await settle();
    expect(container!.textContent).toBe('cancelled|A8|Par');
    expect((server.calls[2]!.init.signal as AbortSignal).aborted).toBe(true);
    expect(scheduler.pending).toEqual([]);
    expect(server.calls).toHaveLength(3);
  });

  it("useAnswer asks on the provider's client and shows the gateway's refusal", async () => {
    const server = new FakeFetch();
    server.streamReplies.push(
      new Response(JSON.stringify({ title: 'Service unavailable', status: 503, detail: 'streamed answers are off: SseCluster:Answers:BackendUrl is not set' }), {
        status: 503,
        headers: { 'content-type': 'application/problem+json' },
      }),
    );
    let api: UseAnswerResult | undefined;
    function Chat() {
      api = useAnswer();
      return createElement('output', null, `${api.status}|${(api.error as { status?: number } | null)?.status ?? '-'}`);
    }
    render(createElement(SSEProvider, { url: 'http://gateway.test', fetch: server.fetch, autoConnect: false }, createElement(Chat)));
    let result: unknown = 'pending';
    await act(async () => {
      result = await api!.ask({ question: 'Hi' });
    });
    expect(result).toBeUndefined();
    expect(container!.textContent).toBe('error|503');
    expect(api!.error?.message).toMatch(/BackendUrl is not set/);
    expect(server.calls.map((c) => c.url)).toEqual(['http://gateway.test/sse/answers']);
  });
});
