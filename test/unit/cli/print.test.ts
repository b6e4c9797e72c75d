import { describe, expect, it } from 'vitest';
import { truncate, when } from '../../../src/cli/print.js';

describe('how the commands print a time and a subject', () => {
  it('a time in UTC to the second, and how long ago', () => {
    const now = Date.parse('2026-11-24T05:23:38.500Z');
    expect(when('2026-11-24T05:22:08.500Z', now)).toBe('2026-11-24 05:22:08 (1m30s ago)');
    expect(when('2026-11-24T05:23:38Z', now)).toBe('2026-11-24 05:23:38 (0.50s ago)');
    expect(when(null, now)).toBe('-');
  });

  it('a subject cut to its column, an ellipsis as its last character', () => {
    expect(truncate('short', 40)).toBe('short');
    expect(truncate('x'.repeat(40), 40)).toBe('x'.repeat(40));
    expect(truncate('x'.repeat(41), 40)).toBe(`${'x'.repeat(39)}…`);
  });
});
