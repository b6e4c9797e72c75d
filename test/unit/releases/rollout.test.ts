import { describe, expect, it } from 'vitest';
import { waveName } from '../../../src/releases/rollout.js';

describe('waveName: how a wave is announced', () => {
  it('calls the first wave the canary, and counts the batches after it', () => {
    expect([0, 1, 2].map((i) => waveName(i, 3, true))).toEqual(['canary', 'batch 1/2', 'batch 2/2']);
  });

  it('counts every wave as a batch when there is no canary', () => {
    expect([0, 1].map((i) => waveName(i, 2, false))).toEqual(['batch 1/2', 'batch 2/2']);
  });
});
