import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { HeartbeatWatchdog } from '../src/watchdog.js';

describe('HeartbeatWatchdog (fake timers)', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('fires after 2.5 × the heartbeat interval without activity', () => {
    const onTimeout = vi.fn();
    const watchdog = new HeartbeatWatchdog(onTimeout);
    watchdog.start(10);
    expect(watchdog.timeoutMs).toBe(25000);
    vi.advanceTimersByTime(24999);
    expect(onTimeout).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(onTimeout).toHaveBeenCalledTimes(1);
    expect(watchdog.armed).toBe(false);
    vi.advanceTimersByTime(100000);
    expect(onTimeout).toHaveBeenCalledTimes(1);
  });

  it('is kept alive by activity', () => {
    const onTimeout = vi.fn();
    const watchdog = new HeartbeatWatchdog(onTimeout);
    watchdog.start(2); // 5 s
    for (let i = 0; i < 10; i++) {
      vi.advanceTimersByTime(4000);
      watchdog.kick();
    }
    expect(onTimeout).not.toHaveBeenCalled();
    vi.advanceTimersByTime(4999);
    expect(onTimeout).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(onTimeout).toHaveBeenCalledTimes(1);
  });

  it('measures from the last activity, not from the last timer', () => {
    const onTimeout = vi.fn();
    const watchdog = new HeartbeatWatchdog(onTimeout);
    watchdog.start(4); // 10 s
    vi.advanceTimersByTime(9000);
    watchdog.kick();
    vi.advanceTimersByTime(9999);
    expect(onTimeout).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(onTimeout).toHaveBeenCalledTimes(1);
  });

  it('does nothing once stopped', () => {
    const onTimeout = vi.fn();
    const watchdog = new HeartbeatWatchdog(onTimeout);
    watchdog.start(1);
    watchdog.stop();
    vi.advanceTimersByTime(60000);
    expect(onTimeout).not.toHaveBeenCalled();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('stays disarmed for a zero or invalid interval', () => {
    const onTimeout = vi.fn();
    const watchdog = new HeartbeatWatchdog(onTimeout);
    watchdog.start(0);
    watchdog.start(Number.NaN);
    watchdog.kick();
    vi.advanceTimersByTime(60000);
    expect(onTimeout).not.toHaveBeenCalled();
    expect(watchdog.armed).toBe(false);
  });

  it('re-arms with a new interval', () => {
    const onTimeout = vi.fn();
    const watchdog = new HeartbeatWatchdog(onTimeout);
    watchdog.start(100);
    watchdog.start(2);
    vi.advanceTimersByTime(5000);
    expect(onTimeout).toHaveBeenCalledTimes(1);
  });
});
