import { describe, expect, it } from 'vitest';
import { Backoff } from '../src/backoff.js';

const almostOne = () => 0.999999;

describe('Backoff (full jitter)', () => {
  it('grows the ceiling exponentially from the base and caps it at 30 s by default', () => {
    const backoff = new Backoff({ random: almostOne });
    const delays = Array.from({ length: 8 }, () => backoff.next());
    expect(delays).toEqual([999, 1999, 3999, 7999, 15999, 29999, 29999, 29999]);
  });

  it('draws the delay uniformly between 0 and the ceiling (full jitter)', () => {
    const values = [0, 0.25, 0.5, 0.75];
    let i = 0;
    const backoff = new Backoff({ baseRetryMs: 1000, random: () => values[i++ % values.length]! });
    // attempt 0..3: ceilings 1000, 2000, 4000, 8000
    expect([backoff.next(), backoff.next(), backoff.next(), backoff.next()]).toEqual([0, 500, 2000, 6000]);
  });

  it('can reconnect immediately when the random draw is 0', () => {
    const backoff = new Backoff({ random: () => 0 });
    expect(backoff.next()).toBe(0);
    expect(backoff.next()).toBe(0);
  });

  it('honours a custom cap and base', () => {
    const backoff = new Backoff({ baseRetryMs: 250, maxRetryMs: 1500, random: almostOne });
    expect(Array.from({ length: 5 }, () => backoff.next())).toEqual([249, 499, 999, 1499, 1499]);
  });

  it("uses the server's retry as the base when it is larger", () => {
    const backoff = new Backoff({ baseRetryMs: 1000, random: almostOne });
    backoff.setServerRetry(5000);
    expect(backoff.base).toBe(5000);
    expect(Array.from({ length: 4 }, () => backoff.next())).toEqual([4999, 9999, 19999, 29999]);
  });

  it("keeps the client's base when the server's retry is smaller", () => {
    const backoff = new Backoff({ baseRetryMs: 1000, random: almostOne });
    backoff.setServerRetry(200);
    expect(backoff.next()).toBe(999);
  });

  it('ignores nonsense retry values', () => {
    const backoff = new Backoff({ random: almostOne });
    backoff.setServerRetry(Number.NaN);
    backoff.setServerRetry(-5);
    expect(backoff.serverRetryMs).toBeUndefined();
  });

  it('starts over after reset()', () => {
    const backoff = new Backoff({ random: almostOne });
    backoff.next();
    backoff.next();
    backoff.next();
    expect(backoff.attempt).toBe(3);
    backoff.reset();
    expect(backoff.attempt).toBe(0);
    expect(backoff.next()).toBe(999);
  });

  it('stays finite and capped after very many attempts', () => {
    const backoff = new Backoff({ random: almostOne });
    let last = 0;
    for (let i = 0; i < 2000; i++) last = backoff.next();
    expect(last).toBe(29999);
  });

  it("waits at least the server's retry, plus jitter, for a requested reconnect", () => {
    const draws = [0, 0.5, 0.999999];
    let i = 0;
    const backoff = new Backoff({ random: () => draws[i++]! });
    backoff.setServerRetry(3000);
    expect([backoff.nextRequested(), backoff.nextRequested(), backoff.nextRequested()]).toEqual([3000, 4500, 5999]);
  });

  it('caps a requested reconnect delay too', () => {
    const backoff = new Backoff({ maxRetryMs: 10000, random: almostOne });
    backoff.setServerRetry(60000);
    expect(backoff.nextRequested()).toBe(10000);
  });

  it('uses the base for a requested reconnect when the server sent no retry', () => {
    const backoff = new Backoff({ baseRetryMs: 2000, random: () => 0 });
    expect(backoff.nextRequested()).toBe(2000);
  });
});
