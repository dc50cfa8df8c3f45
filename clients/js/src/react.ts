/**
 * React bindings: one shared connection per app.
 *
 * ```tsx
 * <SSEProvider url="https://gw.example.com" transport="fetch" getToken={getToken}>
 *   <App />
 * </SSEProvider>
 *
 * const { isConnected, connectionId } = useSSE();          // the provider's connection
 * const own = useSSE({ url, topics: ['room-7'] });         // or one of this component's own
 * useSSEEvent('notice', (e) => toast(e.data.title));
 * const { ask, text, status } = useAnswer();               // a streamed answer, on the provider's client
 * ```
 */
import {
  createContext,
  createElement,
  useCallback,
  useContext,
  useEffect,
  useMemo,
  useRef,
  useState,
  useSyncExternalStore,
} from 'react';
import type { ReactNode } from 'react';
import type { Answer, AnswerChunk } from './answers.js';
import { SseClient } from './client.js';
import type { SseClientSnapshot } from './client.js';
import type { ConnectionState, SseClientError, SseClientOptions, SseEventHandler } from './types.js';

export interface SSEProviderProps extends Omit<SseClientOptions, 'autoConnect'> {
  children?: ReactNode;
  /** Connect when mounted (default true). */
  autoConnect?: boolean;
  /** Use this client instead of creating one (the provider then never disconnects it on unmount unless it connected it). */
  client?: SseClient;
}

export interface SSEContextValue {
  connectionState: ConnectionState;
  isConnected: boolean;
  connectionId: string | null;
  lastEventId: string;
  error: SseClientError | null;
  subscribe: SseClient['subscribe'];
  unsubscribe: SseClient['unsubscribe'];
  once: SseClient['once'];
  reconnect: () => void;
  disconnect: () => void;
  connect: () => void;
  client: SseClient;
}

const SSEContext = createContext<SseClient | null>(null);
SSEContext.displayName = 'SSEContext';

/** Options that, when they change, need a new connection. */
function connectionKey(props: SSEProviderProps): string {
  return JSON.stringify([
    props.url,
    props.path,
    props.transport,
    props.topics ?? [],
    props.clientId,
    props.ticketUrl,
    props.method,
    props.withCredentials,
    props.pauseWhenHidden,
    props.heartbeatSeconds,
    props.baseRetryMs,
    props.maxRetryMs,
  ]);
}

/** Holds one `SseClient` for everything below it. */
export function SSEProvider(props: SSEProviderProps) {
  const { children, autoConnect = true, client: given } = props;
  // The latest props, so functions (getToken) may change on every render without reconnecting.
  const latest = useRef(props);
  latest.current = props;
  const key = connectionKey(props);

  // The client has no side effects until connect(), so a render React throws away
  // costs nothing.
  const created = useMemo(() => (given ? null : createClient(latest)), [given, key]);
  const client = given ?? created!;

  useEffect(() => {
    if (!autoConnect) return undefined;
    client.connect();
    return () => {
      client.disconnect();
    };
  }, [client, autoConnect]);

  return createElement(SSEContext.Provider, { value: client }, children);
}

function createClient(latest: { current: SSEProviderProps }): SseClient {
  const { children: _children, client: _client, autoConnect: _autoConnect, ...options } = latest.current;
  return new SseClient({
    ...options,
    getToken: options.getToken ? () => latest.current.getToken!() : undefined,
  });
}

/** The shared connection's client (throws outside an `SSEProvider`). */
export function useSSEClient(): SseClient {
  const client = useContext(SSEContext);
  if (!client) throw new Error('useSSE must be used inside <SSEProvider>');
  return client;
}

/** Options of `useSSE(options)`: the client's options, plus `autoConnect` (default true). */
export type UseSSEOptions = Omit<SSEProviderProps, 'children' | 'client'>;

/**
 * A connection's state and the functions to use it (seed 003's `useSSE`).
 *
 * - `useSSE(options)` opens a connection of its own for this component: connected on mount
 *   (unless `autoConnect: false`), disconnected on unmount, reopened when a connection option
 *   (url, topics, transport, …) changes.
 * - `useSSE()` uses the shared connection of the nearest `SSEProvider` (seed 003's `useSSEContext`).
 */
export function useSSE(options?: UseSSEOptions): SSEContextValue {
  const shared = useContext(SSEContext);
  const latest = useRef(options);
  latest.current = options;
  const key = options ? connectionKey(options) : null;
  const own = useMemo(
    () => (key === null ? null : createClient(latest as { current: SSEProviderProps })),
    [key],
  );
  const autoConnect = options?.autoConnect ?? true;
  useEffect(() => {
    if (!own || !autoConnect) return undefined;
    own.connect();
    return () => {
      own.disconnect();
    };
  }, [own, autoConnect]);
  const client = own ?? shared;
  if (!client) throw new Error('useSSE() needs options, or an <SSEProvider> above it');
  return useConnectionState(client);
}

/** The shared connection of the nearest `SSEProvider` (seed 003's name). */
export function useSSEContext(): SSEContextValue {
  return useConnectionState(useSSEClient());
}

function useConnectionState(client: SseClient): SSEContextValue {
  const subscribeStore = useCallback((onChange: () => void) => client.on('change', onChange), [client]);
  const getSnapshot = useCallback((): SseClientSnapshot => client.getSnapshot(), [client]);
  const snapshot = useSyncExternalStore(subscribeStore, getSnapshot, getSnapshot);

  // The functions stay the same for the life of the client, so effects that depend on
  // them (`useEffect(() => subscribe(...), [subscribe])`) do not resubscribe per event.
  const actions = useMemo(
    () => ({
      subscribe: client.subscribe.bind(client) as SseClient['subscribe'],
      unsubscribe: client.unsubscribe.bind(client) as SseClient['unsubscribe'],
      once: client.once.bind(client) as SseClient['once'],
      reconnect: () => client.reconnect(),
      disconnect: () => client.disconnect(),
      connect: () => client.connect(),
    }),
    [client],
  );

  return useMemo(
    () => ({
      connectionState: snapshot.state,
      isConnected: snapshot.state === 'open',
      connectionId: snapshot.connectionId,
      lastEventId: snapshot.lastEventId,
      error: snapshot.error,
      ...actions,
      client,
    }),
    [client, snapshot, actions],
  );
}

/** Where the event hooks listen: a `useSSE(options)` result or client, else the provider's connection. */
type EventSource_ = SseClient | SSEContextValue | undefined;

function useSourceClient(source: EventSource_): SseClient {
  const shared = useContext(SSEContext);
  const client = source instanceof SseClient ? source : source?.client ?? shared;
  if (!client) throw new Error('useSSEEvent needs an <SSEProvider> above it, or the connection to listen on');
  return client;
}

/**
 * Calls `handler` for every event of `eventType` while the component is mounted, on the
 * provider's connection or on `source` (a `useSSE(options)` result). The handler may change
 * on every render without resubscribing.
 */
export function useSSEEvent<T = any>(eventType: string, handler: SseEventHandler<T>, source?: EventSource_): void {
  const client = useSourceClient(source);
  const latest = useRef(handler);
  latest.current = handler;
  useEffect(() => client.subscribe<T>(eventType, (event) => latest.current(event)), [client, eventType]);
}

/**
 * Subscribes to several event types at once: `useSSEEvents({ notice: onNotice, reset: refetch })`.
 * Handlers may change on every render without resubscribing.
 */
export function useSSEEvents(handlers: Record<string, SseEventHandler<any> | undefined>, source?: EventSource_): void {
  const client = useSourceClient(source);
  const latest = useRef(handlers);
  latest.current = handlers;
  const types = Object.keys(handlers)
    .filter((type) => typeof handlers[type] === 'function')
    .sort()
    .join('\u0000');
  useEffect(() => {
    if (types === '') return undefined;
    const offs = types.split('\u0000').map((type) => client.subscribe(type, (event) => latest.current[type]?.(event)));
    return () => {
      for (const off of offs) off();
    };
  }, [client, types]);
}

/** Where `useAnswer` is: `idle` until asked, then as `streamAnswer` reports, then how it ended. */
export type AnswerStatus = 'idle' | 'asking' | 'streaming' | 'resuming' | 'done' | 'error' | 'cancelled';

export interface UseAnswerResult {
  /**
   * Asks a question (`body`, sent as JSON), cancelling an answer still streaming. Resolves
   * with the whole answer, or undefined when it did not finish (see `status` and `error`);
   * it never rejects.
   */
  ask: (body: unknown) => Promise<Answer | undefined>;
  /** Stops the answer that is streaming (status `cancelled`); nothing more is requested. */
  cancel: () => void;
  /** The string data of the chunks so far, concatenated. */
  text: string;
  /** The chunks so far, each once, in order. */
  chunks: readonly AnswerChunk[];
  status: AnswerStatus;
  /** Why the last answer failed (an `AnswerError`: `reason`, `status`, `problem`), else null. */
  error: Error | null;
  /** The answer's id once the gateway named it, else null. */
  answerId: string | null;
}

interface AnswerView {
  status: AnswerStatus;
  text: string;
  chunks: readonly AnswerChunk[];
  error: Error | null;
  answerId: string | null;
}

const IDLE_ANSWER: AnswerView = { status: 'idle', text: '', chunks: [], error: null, answerId: null };

/** Where `useAnswer` asks: a client, a `useSSE()` result, client options of its own, or (none) the provider's client. */
export type AnswerSource = SseClient | SSEContextValue | UseSSEOptions | undefined;

/**
 * One streamed answer at a time (`client.streamAnswer`), as React state: `text` and `chunks`
 * grow as the answer streams, `status` follows it (`asking`, `streaming`, `resuming` after a
 * break, then `done`, `error` or `cancelled`). Uses the provider's client, or `source`: a
 * client, a `useSSE(options)` result, or client options (a client of its own, never
 * connected: asking needs no connection). Unmounting cancels the answer.
 *
 * ```tsx
 * const { ask, text, status, error, cancel } = useAnswer();
 * <button onClick={() => ask({ question })}>Ask</button> <pre>{text}</pre>
 * ```
 */
export function useAnswer(source?: AnswerSource): UseAnswerResult {
  const shared = useContext(SSEContext);
  const ownOptions = source !== undefined && !(source instanceof SseClient) && !isContextValue(source) ? source : undefined;
  const latest = useRef(ownOptions);
  latest.current = ownOptions;
  const key = ownOptions ? connectionKey(ownOptions) : null;
  const own = useMemo(() => (key === null ? null : createClient(latest as { current: SSEProviderProps })), [key]);
  const client = source instanceof SseClient ? source : isContextValue(source) ? source.client : own ?? shared;
  if (!client) throw new Error('useAnswer() needs an <SSEProvider> above it, a client, or client options');

  const [view, setView] = useState<AnswerView>(IDLE_ANSWER);
  // The answer in flight: its controller also tells a late callback of an older answer apart.
  const current = useRef<AbortController | null>(null);
  const mounted = useRef(false);
  useEffect(() => {
    mounted.current = true;
    return () => {
      mounted.current = false;
      current.current?.abort();
      current.current = null;
    };
  }, []);

  const ask = useCallback(
    async (body: unknown): Promise<Answer | undefined> => {
      current.current?.abort();
      const controller = new AbortController();
      current.current = controller;
      const update = (change: (view: AnswerView) => AnswerView) => {
        if (mounted.current && current.current === controller) setView(change);
      };
      update(() => ({ ...IDLE_ANSWER, status: 'asking' }));
      try {
        const answer = await client.streamAnswer(body, {
          signal: controller.signal,
          onAnswer: ({ answerId }) => update((v) => ({ ...v, answerId })),
          onState: (status) => update((v) => ({ ...v, status })),
          onChunk: (chunk) =>
            update((v) => ({
              ...v,
              text: typeof chunk.data === 'string' ? v.text + chunk.data : v.text,
              chunks: [...v.chunks, chunk],
            })),
        });
        update((v) => ({ ...v, status: 'done', text: answer.text, chunks: answer.chunks, answerId: answer.answerId }));
        return answer;
      } catch (error) {
        if (controller.signal.aborted) {
          update((v) => ({ ...v, status: 'cancelled' }));
        } else {
          update((v) => ({ ...v, status: 'error', error: error instanceof Error ? error : new Error(String(error)) }));
        }
        return undefined;
      } finally {
        if (current.current === controller) current.current = null;
      }
    },
    [client],
  );

  const cancel = useCallback(() => {
    // The aborted answer's own catch marks it cancelled.
    current.current?.abort();
  }, []);

  return useMemo(() => ({ ...view, ask, cancel }), [view, ask, cancel]);
}

function isContextValue(source: AnswerSource): source is SSEContextValue {
  return typeof source === 'object' && source !== null && !(source instanceof SseClient) && (source as SSEContextValue).client instanceof SseClient;
}

export { SseClient };
export type { Answer, AnswerChunk } from './answers.js';
export type { ConnectionState, SseClientOptions, SseEvent, SseEventHandler } from './types.js';
