// @vitest-environment jsdom
import { afterEach, describe, expect, it } from 'vitest';
import { act, createElement, StrictMode, useState } from 'react';
import type { ReactNode } from 'react';
import { createRoot } from 'react-dom/client';
import type { Root } from 'react-dom/client';
import { SSEProvider, useSSE, useSSEContext, useSSEEvent, useSSEEvents } from '../src/react.js';
import type { SSEContextValue } from '../src/react.js';
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
});
