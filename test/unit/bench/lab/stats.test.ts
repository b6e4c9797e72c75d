import { describe, expect, it } from 'vitest';
import { median, pairedRatio, percentile, spread } from '../../../../bench/lab/stats.js';

describe('bench statistics', () => {
  it('median of odd and even counts, unsorted input left alone', () => {
    const values = [5, 1, 3];
    expect(median(values)).toBe(3);
    expect(values).toEqual([5, 1, 3]);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });

  it('nearest-rank percentiles', () => {
    const values = Array.from({ length: 20 }, (_, i) => i + 1);
    expect(percentile(values, 50)).toBe(10);
    expect(percentile(values, 95)).toBe(19);
    expect(percentile(values, 100)).toBe(20);
    expect(percentile([7], 95)).toBe(7);
    expect(percentile([], 50)).toBeUndefined();
  });

  it('spread is median, min, max and count', () => {
    expect(spread([3, 9, 1])).toEqual({ median: 3, min: 1, max: 9, n: 3 });
  });

  it('the ratio is taken pair by pair, so a slow moment that slows both cancels out', () => {
    // repetition 2 ran while the machine was busy: both approaches took 10x longer
    const fanout = [1, 10, 1];
    const classic = [6, 60, 6];
    expect(pairedRatio(classic, fanout)).toBe(6);
    // a ratio of medians would also say 6 here; with the noise on one side only it would not
    expect(pairedRatio([6, 60, 7], [1, 1, 1])).toBe(7);
  });

  it('a ratio skips pairs whose baseline is missing or zero', () => {
    expect(pairedRatio([2, 4, 6], [1, 0])).toBe(2);
  });
});
