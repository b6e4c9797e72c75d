import { describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/watch/clock.js';

describe('systemClock', () => {
  it('reads the wall clock', () => {
    const before = Date.now();
    const now = systemClock.now();
    expect(now).toBeGreaterThanOrEqual(before);
    expect(now).toBeLessThanOrEqual(Date.now());
  });

  it('after: once, when due; its canceller stops one not yet due', async () => {
    const fired: string[] = [];
    systemClock.after(5, () => fired.push('kept'));
    const cancel = systemClock.after(5, () => fired.push('cancelled'));
    cancel();
    await systemClock.sleep(40);
    expect(fired).toEqual(['kept']);
  });

  it('every: again and again until stopped', async () => {
    let count = 0;
    const stop = systemClock.every(5, () => (count += 1));
    // polled, not a fixed sleep: a busy machine delays timers
    while (count < 2) await systemClock.sleep(5);
    stop();
    const seen = count;
    await systemClock.sleep(30);
    expect(count).toBe(seen);
  });

  it('sleep waits about as long as asked', async () => {
    const started = performance.now();
    await systemClock.sleep(20);
    expect(performance.now() - started).toBeGreaterThanOrEqual(15);
  });
});
