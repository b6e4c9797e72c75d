import { describe, expect, it } from 'vitest';
import { ioCounters, stallTick, StallClock } from '../../../src/base/stall.js';

describe('ioCounters', () => {
  it('reads what /proc/<pid>/io says was read and written', () => {
    expect(ioCounters('rchar: 1200\nwchar: 34\nsyscr: 5\nread_bytes: 0\n')).toEqual({ read: 1200, written: 34 });
    expect(ioCounters('')).toEqual({ read: 0, written: 0 });
  });
});

describe('stallTick', () => {
  it('looks a quarter of the stall time apart, within its bounds', () => {
    expect(stallTick(3000, { least: 250, most: 5000 })).toBe(750);
    expect(stallTick(31_000, { least: 250, most: 5000 })).toBe(5000);
    expect(stallTick(200, { least: 50, most: 1000 })).toBe(50);
  });
});

describe('StallClock', () => {
  it('stalls once nothing was read and no more than keepalives written for longer than the stall time', () => {
    const clock = new StallClock(1000, 0);
    expect(clock.sample({ read: 10, written: 10 }, 100)).toBe(false);
    // keepalives: a few bytes written, nothing read
    expect(clock.sample({ read: 10, written: 14 }, 600)).toBe(false);
    expect(clock.sample({ read: 10, written: 18 }, 1100)).toBe(false);
    expect(clock.sample({ read: 10, written: 22 }, 1101)).toBe(true);
  });

  it('takes the first sample as progress: what the process did before it is not known', () => {
    const clock = new StallClock(1000, 0);
    expect(clock.sample({ read: 0, written: 0 }, 5000)).toBe(false);
    expect(clock.sample({ read: 0, written: 0 }, 6001)).toBe(true);
  });

  it('counts a read, a large write, or being heard from otherwise as progress', () => {
    const clock = new StallClock(1000, 0);
    clock.sample({ read: 0, written: 0 }, 0);
    expect(clock.sample({ read: 1, written: 0 }, 900)).toBe(false);
    expect(clock.sample({ read: 1, written: 300 }, 1800)).toBe(false);
    clock.heard(2700);
    expect(clock.sample({ read: 1, written: 300 }, 3600)).toBe(false);
    expect(clock.sample({ read: 1, written: 300 }, 3701)).toBe(true);
  });
});
