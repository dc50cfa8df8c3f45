/**
 * Reconnect delays: exponential backoff with full jitter
 * (delay = random(0, min(cap, base * 2^attempt))), where the server's `retry:` raises
 * the base. A reconnect the server asked for (a `close` event with `reconnect: true`)
 * waits at least the server's `retry:`, plus jitter.
 */
export interface BackoffOptions {
  /** Smallest base delay in ms (default 1000). The server's `retry:` raises it. */
  baseRetryMs?: number;
  /** Upper bound of any delay in ms (default 30000). */
  maxRetryMs?: number;
  /** Returns a number in [0, 1). Defaults to Math.random. */
  random?: () => number;
}

export const DEFAULT_BASE_RETRY_MS = 1000;
export const DEFAULT_MAX_RETRY_MS = 30000;

export class Backoff {
  private readonly baseRetryMs: number;
  private readonly maxRetryMs: number;
  private readonly random: () => number;
  private serverRetry: number | undefined;
  private attemptCount = 0;

  constructor(options: BackoffOptions = {}) {
    this.baseRetryMs = positiveOr(options.baseRetryMs, DEFAULT_BASE_RETRY_MS);
    this.maxRetryMs = positiveOr(options.maxRetryMs, DEFAULT_MAX_RETRY_MS);
    this.random = options.random ?? Math.random;
  }

  /** How many reconnects were scheduled since the last reset. */
  get attempt(): number {
    return this.attemptCount;
  }

  /** The server's last `retry:` value, if it sent one. */
  get serverRetryMs(): number | undefined {
    return this.serverRetry;
  }

  /** Records the server's `retry:` field. */
  setServerRetry(milliseconds: number): void {
    if (Number.isFinite(milliseconds) && milliseconds >= 0) this.serverRetry = milliseconds;
  }

  /** Starts the schedule over (after a connection delivered `welcome`). */
  reset(): void {
    this.attemptCount = 0;
  }

  /** The base the exponential schedule grows from. */
  get base(): number {
    return Math.max(this.baseRetryMs, this.serverRetry ?? 0);
  }

  /** The upper bound of the jittered delay for the given attempt. */
  ceiling(attempt: number): number {
    // 2^attempt overflows to Infinity long before it matters; min() keeps the cap.
    return Math.min(this.maxRetryMs, this.base * Math.pow(2, attempt));
  }

  /** The delay before the next reconnect after a failure; advances the attempt counter. */
  next(): number {
    const delay = Math.floor(this.random() * this.ceiling(this.attemptCount));
    this.attemptCount++;
    return delay;
  }

  /**
   * The delay before a reconnect the server asked for (`close` with `reconnect: true`):
   * the server's `retry:` (or the base) plus up to as much again of jitter, capped.
   * Advances the attempt counter too, so a server that keeps refusing is backed off.
   */
  nextRequested(): number {
    const wait = Math.min(this.maxRetryMs, this.serverRetry ?? this.baseRetryMs);
    const delay = Math.min(this.maxRetryMs, Math.floor(wait + this.random() * wait));
    this.attemptCount++;
    return delay;
  }
}

function positiveOr(value: number | undefined, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : fallback;
}
