import type { Scheduler } from './timers.js';
import { defaultScheduler } from './timers.js';

/** How many heartbeat intervals may pass without a sign of life before reconnecting. */
export const WATCHDOG_FACTOR = 2.5;

/**
 * Fires `onTimeout` when `kick()` has not been called for 2.5 × the heartbeat interval.
 * Every event, heartbeat or comment received counts as a kick. A kick only records the
 * time (no timer churn per event); the timer re-checks when it fires.
 */
export class HeartbeatWatchdog {
  private handle: unknown = undefined;
  private intervalMs = 0;
  private lastActivity = 0;

  constructor(
    private readonly onTimeout: () => void,
    private readonly scheduler: Scheduler = defaultScheduler,
  ) {}

  /** Whether the watchdog is armed. */
  get armed(): boolean {
    return this.intervalMs > 0;
  }

  /** The time without activity after which it fires, in ms (0 when disarmed). */
  get timeoutMs(): number {
    return this.intervalMs > 0 ? Math.round(this.intervalMs * WATCHDOG_FACTOR) : 0;
  }

  /** Arms (or re-arms) the watchdog for a heartbeat interval in seconds; 0 or less disarms. */
  start(heartbeatSeconds: number): void {
    this.stop();
    if (!Number.isFinite(heartbeatSeconds) || heartbeatSeconds <= 0) return;
    this.intervalMs = heartbeatSeconds * 1000;
    this.lastActivity = this.scheduler.now();
    this.schedule(this.timeoutMs);
  }

  /** Records a sign of life. */
  kick(): void {
    if (this.intervalMs > 0) this.lastActivity = this.scheduler.now();
  }

  stop(): void {
    if (this.handle !== undefined) {
      this.scheduler.clearTimeout(this.handle);
      this.handle = undefined;
    }
    this.intervalMs = 0;
  }

  private schedule(milliseconds: number): void {
    this.handle = this.scheduler.setTimeout(() => this.check(), milliseconds);
  }

  private check(): void {
    this.handle = undefined;
    if (this.intervalMs <= 0) return;
    const idle = this.scheduler.now() - this.lastActivity;
    const timeout = this.timeoutMs;
    if (idle < timeout) {
      this.schedule(timeout - idle);
      return;
    }
    this.intervalMs = 0;
    this.onTimeout();
  }
}
