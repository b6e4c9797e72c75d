import { describe, expect, it } from 'vitest';
import { done, newBatcher, noted, take, wakeIn, type BatcherTiming } from '../../../src/watch/batcher.js';

const timing: BatcherTiming = { settleMs: 5, maxWaitMs: 1000, minDelayMs: 0, retryDelayMs: 2000, maxRetryDelayMs: 60_000 };

/** A batcher past its start: the first full pass taken and done. */
function started(t: BatcherTiming = timing): ReturnType<typeof newBatcher> {
  const b = newBatcher();
  const first = take(b, 0, t);
  if (first?.kind !== 'full') throw new Error('the start is a full pass');
  done(b, first, 'ok', 10, t);
  return b;
}

describe('the start', () => {
  it('is one full pass, at once', () => {
    const b = newBatcher();
    expect(wakeIn(b, 0, timing)).toBe(0);
    expect(take(b, 0, timing)).toEqual({ kind: 'full', since: 0 });
    expect(take(b, 0, timing)).toBeUndefined();
  });
});

describe('when a batch starts', () => {
  it('once the events have been quiet for settleMs', () => {
    const b = started();
    noted(b, 100, { paths: ['a.html'] });
    expect(wakeIn(b, 100, timing)).toBe(5);
    expect(take(b, 103, timing)).toBeUndefined();
    noted(b, 103, { paths: ['b.html'] });
    expect(wakeIn(b, 103, timing)).toBe(5);
    expect(take(b, 108, timing)).toEqual({ kind: 'paths', paths: ['a.html', 'b.html'], since: 100 });
  });

  it('at most maxWaitMs after the first event, however long a burst goes on', () => {
    const b = started();
    for (let t = 100; t < 1100; t += 2) noted(b, t, { paths: [`f${t}`] });
    expect(wakeIn(b, 1098, timing)).toBe(2);
    const batch = take(b, 1100, timing);
    expect(batch?.kind === 'paths' && batch.paths.length).toBe(500);
  });

  it('never sooner than minDelayMs after the last one started', () => {
    const t = { ...timing, minDelayMs: 500 };
    const b = started(t);
    noted(b, 20, { paths: ['a'] });
    expect(wakeIn(b, 20, t)).toBe(480);
    expect(take(b, 30, t)).toBeUndefined();
    expect(take(b, 500, t)).toMatchObject({ kind: 'paths', paths: ['a'] });
  });

  it('not while a batch runs: what arrives meanwhile is the next batch', () => {
    const b = started();
    noted(b, 100, { paths: ['a'] });
    const first = take(b, 105, timing);
    noted(b, 110, { paths: ['b'] });
    expect(wakeIn(b, 200, timing)).toBeUndefined();
    expect(take(b, 200, timing)).toBeUndefined();
    if (first === undefined) throw new Error('a batch');
    done(b, first, 'ok', 300, timing);
    expect(take(b, 300, timing)).toEqual({ kind: 'paths', paths: ['b'], since: 110 });
  });

  it('a full pass asked for replaces the paths of the batch it joins', () => {
    const b = started();
    noted(b, 100, { paths: ['a'] });
    noted(b, 101, { full: true });
    expect(take(b, 106, timing)).toEqual({ kind: 'full', since: 100 });
    expect(wakeIn(b, 106, timing)).toBeUndefined();
  });

  it('nothing to do is no wake-up at all', () => {
    expect(wakeIn(started(), 50, timing)).toBeUndefined();
  });
});

describe('retries', () => {
  it('a batch whose targets failed is retried after retryDelay, doubling to maxRetryDelay, with no paths of its own', () => {
    const t = { ...timing, maxRetryDelayMs: 5000 };
    const b = started(t);
    let now = 100;
    noted(b, now, { paths: ['a'] });
    const delays: number[] = [];
    for (let i = 0; i < 4; i += 1) {
      const batch = take(b, now + 5, t) ?? take(b, now, t);
      if (batch === undefined) throw new Error(`no batch at ${now}`);
      done(b, batch, 'targets failed', now + 10, t);
      const wait = wakeIn(b, now + 10, t) ?? -1;
      delays.push(wait);
      now = now + 10 + wait;
      expect(take(b, now - 1, t)).toBeUndefined();
    }
    expect(delays).toEqual([2000, 4000, 5000, 5000]);
    const retry = take(b, now, t);
    expect(retry).toEqual({ kind: 'paths', paths: [], since: now });
    if (retry === undefined) throw new Error('a retry');
    done(b, retry, 'ok', now + 1, t);
    expect(b.lastRetryDelayMs).toBe(0);
  });

  it('a batch that failed as a whole keeps its paths (or its full pass) for the retry, with what came since', () => {
    const b = started();
    noted(b, 100, { paths: ['a', 'b'] });
    const batch = take(b, 105, timing);
    if (batch === undefined) throw new Error('a batch');
    done(b, batch, 'failed', 110, timing);
    noted(b, 1000, { paths: ['c'] });
    const next = take(b, 1005, timing);
    expect(next).toEqual({ kind: 'paths', paths: ['c'], since: 1000 });
    if (next === undefined) throw new Error('a batch');
    done(b, next, 'failed', 1010, timing);
    // the second failure doubles the delay and keeps both batches' paths
    expect(wakeIn(b, 1010, timing)).toBe(4000);
    expect(take(b, 5010, timing)).toEqual({ kind: 'paths', paths: ['a', 'b', 'c'], since: 5010 });

    const full = newBatcher();
    const first = take(full, 0, timing);
    if (first === undefined) throw new Error('the start');
    done(full, first, 'failed', 1, timing);
    expect(take(full, 2001, timing)).toEqual({ kind: 'full', since: 2001 });
  });
});
