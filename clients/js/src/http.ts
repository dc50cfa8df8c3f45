import type { FetchLike, ProblemDetails, TransportEnd } from './types.js';
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

/** Maps a non-OK status (and its problem+json body, if any) to how the transport ends. */
export function endForStatus(status: number, what: string, problem?: ProblemDetails): TransportEnd {
  const why = problem ? problemSummary(problem) : '';
  const message = `${what} answered HTTP ${status}${why ? ': ' + why : ''}`;
  switch (classifyStatus(status)) {
    case 'stop':
      return { kind: 'stop', status };
    case 'retry':
      return { kind: 'retry', error: new SseClientError(message, status, problem) };
    default:
      return { kind: 'fatal', error: new SseClientError(message, status, problem) };
  }
}

/** The problem's detail (else its title), with its per-field messages. */
export function problemSummary(problem: ProblemDetails): string {
  const fields = problem.errors && typeof problem.errors === 'object' ? Object.values(problem.errors).flat().join('; ') : '';
  return [problem.detail ?? problem.title, fields].filter((part) => typeof part === 'string' && part !== '').join(' · ');
}

/** How much of an error body is read to find its problem+json (a gateway's problems are small). */
const MAX_PROBLEM_CHARS = 16 * 1024;

/**
 * Reads an error response's `application/problem+json` (or JSON) body; undefined for any
 * other body, which is cancelled unread. Never throws.
 */
export async function readProblem(response: Response): Promise<ProblemDetails | undefined> {
  const contentType = response.headers.get('content-type') ?? '';
  if (!/\bjson\b/i.test(contentType)) {
    void response.body?.cancel().catch(() => undefined);
    return undefined;
  }
  try {
    const text = await response.text();
    const parsed = JSON.parse(text.length > MAX_PROBLEM_CHARS ? '' : text) as unknown;
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as ProblemDetails) : undefined;
  } catch {
    return undefined;
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
