import { describe, expect, it } from 'vitest';
import { humanDuration, humanSize } from '../../../src/engine/units.js';

describe('humanDuration', () => {
  it('shows under a second with two decimals', () => {
    expect(humanDuration(0)).toBe('0.00s');
    expect(humanDuration(5)).toBe('0.01s');
    expect(humanDuration(250)).toBe('0.25s');
  });

  it('shows seconds with one decimal', () => {
    expect(humanDuration(1000)).toBe('1.0s');
    expect(humanDuration(1500)).toBe('1.5s');
    expect(humanDuration(42_340)).toBe('42.3s');
  });

  it('shows minutes and whole seconds from a minute on', () => {
    expect(humanDuration(60_000)).toBe('1m0s');
    expect(humanDuration(61_000)).toBe('1m1s');
    expect(humanDuration(125_400)).toBe('2m5s');
    expect(humanDuration(3_600_000)).toBe('60m0s');
  });
});

describe('humanSize', () => {
  it('shows bytes as they are below a kilobyte', () => {
    expect(humanSize(0)).toBe('0 B');
    expect(humanSize(999)).toBe('999 B');
  });

  it('uses decimal units, one decimal below 10', () => {
    expect(humanSize(1000)).toBe('1.0 kB');
    expect(humanSize(1500)).toBe('1.5 kB');
    expect(humanSize(42_000)).toBe('42 kB');
    expect(humanSize(3_200_000)).toBe('3.2 MB');
    expect(humanSize(7_000_000_000)).toBe('7.0 GB');
    expect(humanSize(2_500_000_000_000_000)).toBe('2500 TB');
  });
});

describe('human units roll over at the unit boundary', () => {
  it('durations', () => {
    expect(humanDuration(119_600)).toBe('2m0s');
    expect(humanDuration(59_960)).toBe('1m0s');
    expect(humanDuration(61_000)).toBe('1m1s');
  });

  it('sizes', () => {
    expect(humanSize(999_999)).toBe('1.0 MB');
    expect(humanSize(9_999)).toBe('10 kB');
    expect(humanSize(999)).toBe('999 B');
    expect(humanSize(1_500)).toBe('1.5 kB');
  });
});
