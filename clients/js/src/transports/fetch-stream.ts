import { SseParser } from '../parser.js';
import { asError, endForStatus, isAbortError, readProblem, resolveToken } from '../http.js';
import { withQuery } from '../urls.js';
import type { SseClientOptions, TransportEnd } from '../types.js';
import { SseClientError } from '../types.js';
import type { ConnectRequest, Transport, TransportCallbacks } from './transport.js';

/**
 * The fetch-stream transport: `fetch` with `Authorization: Bearer` (the token never goes
 * into the URL), `Accept: text/event-stream` and `Last-Event-ID` on resume, reading
 * `response.body` through the incremental SSE parser.
 */
export class FetchStreamTransport implements Transport {
  readonly seesComments = true;
  private readonly abort = new AbortController();
  private closed = false;
  private ended = false;
  private reader: ReadableStreamDefaultReader<Uint8Array> | undefined;

  constructor(
    private readonly request: ConnectRequest,
    private readonly callbacks: TransportCallbacks,
  ) {
    void this.run();
  }

  listen(): void {
    // The parser sees every event type.
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.abort.abort();
    this.cancelReader();
  }

  private cancelReader(): void {
    const reader = this.reader;
    this.reader = undefined;
    // Aborting the request errors the body in browsers; cancelling the reader as well
    // releases it at once with any fetch implementation.
    void reader?.cancel().catch(() => undefined);
  }

  private end(end: TransportEnd): void {
    if (this.closed || this.ended) return;
    this.ended = true;
    this.abort.abort();
    this.cancelReader();
    this.callbacks.onEnd(end);
  }

  private async run(): Promise<void> {
    const { options } = this.request;
    let response: Response;
    try {
      const token = await resolveToken(options.getToken);
      if (this.closed) return;
      const headers: Record<string, string> = { ...options.headers, Accept: 'text/event-stream' };
      if (token) headers['Authorization'] = `Bearer ${token}`;
      if (this.request.lastEventId) headers['Last-Event-ID'] = this.request.lastEventId;
      const method = (options.method ?? 'GET').toUpperCase();
      const init: RequestInit = {
        method,
        headers,
        credentials: options.withCredentials ? 'include' : 'same-origin',
        cache: 'no-store',
        signal: this.abort.signal,
      };
      if (method !== 'GET' && method !== 'HEAD' && options.body !== undefined && options.body !== null) {
        init.body = encodeBody(options.body, headers);
      }
      const url = withQuery(this.request.connectUrl, this.request.connectQuery, this.request.params);
      response = await this.request.fetch(url, init);
    } catch (error) {
      if (this.closed || isAbortError(error)) return;
      this.end({ kind: 'retry', error: asError(error) });
      return;
    }
    if (this.closed) {
      void response.body?.cancel().catch(() => undefined);
      return;
    }

    if (!response.ok || response.status === 204) {
      // The gateway's refusals are problem+json naming the reason: keep it for the error.
      const problem = response.status === 204 ? undefined : await readProblem(response);
      if (response.status === 204) void response.body?.cancel().catch(() => undefined);
      if (this.closed) return;
      this.end(endForStatus(response.status, 'the stream', problem));
      return;
    }
    const contentType = response.headers.get('content-type') ?? '';
    if (!/^\s*text\/event-stream\b/i.test(contentType)) {
      void response.body?.cancel().catch(() => undefined);
      this.end({
        kind: 'fatal',
        error: new SseClientError(`the stream answered ${contentType || 'no content type'}, not text/event-stream`, response.status),
      });
      return;
    }
    if (!response.body) {
      this.end({ kind: 'retry', error: new SseClientError('the stream response has no body') });
      return;
    }

    this.callbacks.onOpen();
    if (this.closed) return;

    const parser = new SseParser(
      {
        onEvent: (event) => {
          if (!this.closed && !this.ended) this.callbacks.onEvent(event);
        },
        onComment: (text) => {
          if (!this.closed && !this.ended) this.callbacks.onComment(text);
        },
        onRetry: (ms) => {
          if (!this.closed && !this.ended) this.callbacks.onRetry(ms);
        },
        onLastEventId: (id) => {
          if (!this.closed && !this.ended) this.callbacks.onLastEventId(id);
        },
      },
      this.request.lastEventId,
    );
    const decoder = new TextDecoder('utf-8');
    const reader = response.body.getReader();
    this.reader = reader;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (this.closed || this.ended) break;
        if (done) {
          parser.feed(decoder.decode());
          parser.end();
          this.end({ kind: 'retry' });
          break;
        }
        if (value && value.byteLength > 0) parser.feed(decoder.decode(value, { stream: true }));
      }
    } catch (error) {
      if (!this.closed && !isAbortError(error)) this.end({ kind: 'retry', error: asError(error) });
    } finally {
      if (this.closed || this.ended) this.cancelReader();
    }
  }
}

function encodeBody(body: NonNullable<SseClientOptions['body']>, headers: Record<string, string>): BodyInit {
  if (
    typeof body === 'string' ||
    (typeof Blob !== 'undefined' && body instanceof Blob) ||
    (typeof FormData !== 'undefined' && body instanceof FormData) ||
    (typeof URLSearchParams !== 'undefined' && body instanceof URLSearchParams) ||
    (typeof ArrayBuffer !== 'undefined' && (body instanceof ArrayBuffer || ArrayBuffer.isView(body))) ||
    (typeof ReadableStream !== 'undefined' && body instanceof ReadableStream)
  ) {
    return body as BodyInit;
  }
  if (!Object.keys(headers).some((name) => name.toLowerCase() === 'content-type')) {
    headers['Content-Type'] = 'application/json';
  }
  return JSON.stringify(body);
}
