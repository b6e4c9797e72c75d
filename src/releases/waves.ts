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

/**
 * The waves of the targets that take the release, when some will not (they failed to stage, and
 * `switch:` lets the farm go on without them: they lag). A canary named only by targets that lag
 * is stood in for by as many from the top of the others: a release is never sent without one.
 */
export function wavesWithout(names: readonly string[], rollout: Pick<Rollout, 'canary' | 'batch'>, lagging: readonly string[]): string[][] {
  const taking = names.filter((n) => !lagging.includes(n));
  const { canary } = rollout;
  const standIn = Array.isArray(canary) && canary.length > 0 && !canary.some((n) => taking.includes(n)) ? canary.length : canary;
  return rolloutWaves(taking, { canary: standIn, batch: rollout.batch });
}
