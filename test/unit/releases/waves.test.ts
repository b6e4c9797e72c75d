import { describe, expect, it } from 'vitest';
import { rolloutWaves } from '../../../src/releases/waves.js';

const farm = ['web1', 'web2', 'web3', 'web4', 'web5'];

describe('rolloutWaves: the order targets take a release in', () => {
  it('one wave without a rollout', () => {
    expect(rolloutWaves(farm, { canary: undefined, batch: undefined })).toEqual([farm]);
  });

  it('a canary by count or by name, then the rest', () => {
    expect(rolloutWaves(farm, { canary: 1, batch: undefined })).toEqual([['web1'], ['web2', 'web3', 'web4', 'web5']]);
    expect(rolloutWaves(farm, { canary: ['web4'], batch: undefined })).toEqual([['web4'], ['web1', 'web2', 'web3', 'web5']]);
  });

  it('batches by count, or by a percentage of all targets rounded up', () => {
    expect(rolloutWaves(farm, { canary: 1, batch: 2 })).toEqual([['web1'], ['web2', 'web3'], ['web4', 'web5']]);
    expect(rolloutWaves(farm, { canary: undefined, batch: '40%' })).toEqual([['web1', 'web2'], ['web3', 'web4'], ['web5']]);
    expect(rolloutWaves(farm, { canary: undefined, batch: '1%' })).toEqual(farm.map((n) => [n]));
  });

  it('a canary larger than the farm is the whole farm, once; no empty wave', () => {
    expect(rolloutWaves(['a', 'b'], { canary: 5, batch: 1 })).toEqual([['a', 'b']]);
    expect(rolloutWaves([], { canary: 1, batch: 1 })).toEqual([]);
  });
});
