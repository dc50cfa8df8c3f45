import { describe, expect, it } from 'vitest';
import { RecentIds } from '../src/recent-ids.js';

describe('RecentIds', () => {
  it('reports a repeated id as a duplicate', () => {
    const ids = new RecentIds(4);
    expect(ids.add('a')).toBe(true);
    expect(ids.add('b')).toBe(true);
    expect(ids.add('a')).toBe(false);
    expect(ids.size).toBe(2);
  });

  it('forgets the oldest id when full', () => {
    const ids = new RecentIds(3);
    for (const id of ['1', '2', '3', '4']) ids.add(id);
    expect(ids.has('1')).toBe(false);
    expect(ids.has('2') && ids.has('3') && ids.has('4')).toBe(true);
    expect(ids.size).toBe(3);
    ids.add('5');
    ids.add('6');
    expect([...['2', '3', '4', '5', '6']].map((id) => ids.has(id))).toEqual([false, false, true, true, true]);
  });

  it('stays bounded under many ids', () => {
    const ids = new RecentIds(100);
    for (let i = 0; i < 10000; i++) ids.add(String(i));
    expect(ids.size).toBe(100);
    expect(ids.has('9999')).toBe(true);
    expect(ids.has('9899')).toBe(false);
    expect(ids.add('9950')).toBe(false);
  });

  it('can be cleared', () => {
    const ids = new RecentIds(2);
    ids.add('x');
    ids.clear();
    expect(ids.add('x')).toBe(true);
  });

  it('refuses a capacity below 1', () => {
    expect(() => new RecentIds(0)).toThrow(RangeError);
  });
});
