import type { FetchLike, TransportEnd } from './types.js';
import { SseClientError } from './types.js';

/** What a stream (or ticket) response's status means for the client. */
export type StatusVerdict = 'ok' | 'stop' | 'fatal' | 'retry';

export function classifyStatus(status: number): StatusVerdict {
  if (status === 204) return 'stop';
  if (status >= 200 && status < 300) return 'ok';
  if (status === 408 || status === 425 || status === 429 || status >= 500) return 'retry';
  // 401, 403, 400 and the other client errors: retrying the same request cannot help.
  return 'fatal';
}

/** Maps a non-OK status to how the transport ends. */
export function endForStatus(status: number, what: string): TransportEnd {
  switch (classifyStatus(status)) {
    case 'stop':
      return { kind: 'stop', status };
    case 'retry':
      return { kind: 'retry', error: new SseClientError(`${what} answered HTTP ${status}`, status) };
    default:
      return { kind: 'fatal', error: new SseClientError(`${what} answered HTTP ${status}`, status) };
  }
}

export async function resolveToken(getToken: (() => Promise<string> | string) | undefined): Promise<string | undefined> {
  if (!getToken) return undefined;
  const token = await getToken();
  return token ? String(token) : undefined;
}

export function isAbortError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { name?: string }).name === 'AbortError';
}

export function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

/** The outcome of asking for a ticket. */
export type TicketResult = { ticket: string } | { end: TransportEnd };

/**
 * `POST /sse/tickets` with the bearer token → a single-use ticket for one EventSource
 * connect.
 */
export async function fetchTicket(
  fetchFn: FetchLike,
  ticketUrl: string,
  token: string,
  headers: Record<string, string> | undefined,
  withCredentials: boolean | undefined,
  signal: AbortSignal,
): Promise<TicketResult> {
  const response = await fetchFn(ticketUrl, {
    method: 'POST',
    headers: { ...headers, Accept: 'application/json', Authorization: `Bearer ${token}` },
    credentials: withCredentials ? 'include' : 'same-origin',
    cache: 'no-store',
    signal,
  });
  if (!response.ok) {
    // A ticket request never means "stop for good": 204 would be a broken server.
    const end = endForStatus(response.status === 204 ? 500 : response.status, 'POST ' + ticketUrl);
    return { end };
  }
  const body = (await response.json()) as { ticket?: unknown };
  if (typeof body?.ticket !== 'string' || body.ticket === '') {
    return { end: { kind: 'retry', error: new SseClientError('the ticket response has no ticket') } };
  }
  return { ticket: body.ticket };
}
