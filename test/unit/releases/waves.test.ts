import { describe, expect, it } from 'vitest';
import { rolloutWaves, wavesWithout } from '../../../src/releases/waves.js';

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

describe('wavesWithout: the waves of those that take the release, when some lag', () => {
  it('leaves the lagging targets out of every wave, batches counted from the others', () => {
    expect(wavesWithout(farm, { canary: 1, batch: 2 }, ['web3'])).toEqual([['web1'], ['web2', 'web4'], ['web5']]);
    expect(wavesWithout(farm, { canary: 1, batch: undefined }, ['web1'])).toEqual([['web2'], ['web3', 'web4', 'web5']]);
  });

  it('stands in for a canary named only by lagging targets with as many from the top: never a release without one', () => {
    expect(wavesWithout(farm, { canary: ['web4'], batch: undefined }, ['web4'])).toEqual([['web1'], ['web2', 'web3', 'web5']]);
    expect(wavesWithout(farm, { canary: ['web4', 'web5'], batch: undefined }, ['web5'])).toEqual([['web4'], ['web1', 'web2', 'web3']]);
  });
});
