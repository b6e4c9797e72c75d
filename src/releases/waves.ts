import type { Rollout } from '../base/config.js';

/**
 * The order targets take a release in, as waves: the canary first (a count of targets from the
 * top of the config, or targets by name), then the rest in batches (a count, or a percentage of
 * all targets, rounded up), each wave switched (or written) together and checked before the next.
 * Without a rollout, one wave. Pure.
 */
export function rolloutWaves(names: readonly string[], rollout: Pick<Rollout, 'canary' | 'batch'>): string[][] {
  const waves: string[][] = [];
  let rest = [...names];
  const { canary, batch } = rollout;
  if (canary !== undefined) {
    const first = typeof canary === 'number' ? rest.slice(0, canary) : rest.filter((n) => canary.includes(n));
    if (first.length > 0) waves.push(first);
    rest = rest.filter((n) => !first.includes(n));
  }
  const size = batch === undefined ? rest.length : typeof batch === 'number' ? batch : Math.ceil((Number.parseInt(batch, 10) / 100) * names.length);
  for (let i = 0; i < rest.length; i += Math.max(1, size)) waves.push(rest.slice(i, i + Math.max(1, size)));
  return waves;
}
