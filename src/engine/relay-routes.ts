import pMap from 'p-map';
import type { RelayHop } from '../transport/relay.js';

// Which way each target's passes go in a deploy with relays (docs/guides/many-hosts.md): through one of
// its zone's relays that took the release, or directly from the update server. A relay lost half
// way hands its targets to the zone's next relay, or to the update server; the deploy says so once.

/** A relay that took this deploy's release, and whether it still answers. */
export interface LiveRelay {
  hop: RelayHop;
  alive(): boolean;
  /** asks the relay's connection whether it still stands */
  check(): Promise<boolean>;
  /** how many of its targets it sends to at once */
  concurrency: number;
}

export interface Routes {
  /** the hop a target's passes take now; undefined: directly from the update server */
  hopFor(target: string): RelayHop | undefined;
  /** after a pass through `hop` failed as ssh fails (exit 255): whether its relay is gone (the target is then sent another way) */
  relayLost(hop: RelayHop): Promise<boolean>;
  /** the lane a target runs in: each relay's targets apart, `concurrency` at a time each */
  laneOf(target: string): { name: string; concurrency: number };
}

/**
 * Routes from each target's relays, in the order it should try them (its zone's relays, started
 * at a different one for each target so that a zone's relays share its targets).
 */
export function relayRoutes(candidates: ReadonlyMap<string, readonly LiveRelay[]>, directConcurrency: number, say: (line: string) => void): Routes {
  const reported = new Set<string>();
  const live = (target: string): LiveRelay | undefined => candidates.get(target)?.find((r) => r.alive());
  return {
    hopFor: (target) => live(target)?.hop,
    async relayLost(hop) {
      const relay = [...candidates.values()].flat().find((r) => r.hop === hop);
      if (relay === undefined || (await relay.check())) return false;
      if (!reported.has(hop.relay)) {
        reported.add(hop.relay);
        say(`relay ${hop.relay} was lost mid-deploy: the targets it had left are sent ${[...candidates.values()].some((list) => list.includes(relay) && list.some((r) => r.alive())) ? 'by the zone\'s other relay' : 'directly'}`);
      }
      return true;
    },
    laneOf(target) {
      const first = candidates.get(target)?.[0];
      return first === undefined ? { name: '', concurrency: directConcurrency } : { name: first.hop.relay, concurrency: first.concurrency };
    },
  };
}

/** A zone's targets shared among its relays: target i tries relay i mod n first, then the others in turn. */
export function shareAmong<T>(targets: readonly string[], relays: readonly T[]): Map<string, T[]> {
  const shared = new Map<string, T[]>();
  targets.forEach((name, i) => {
    if (relays.length === 0) return;
    const start = i % relays.length;
    shared.set(name, [...relays.slice(start), ...relays.slice(0, start)]);
  });
  return shared;
}

/**
 * Every item through `run`, each lane at its own concurrency and all lanes at once; results in the
 * items' order. Without routes, one lane at `concurrency`.
 */
export async function inLanes<T extends { name: string }, R>(items: readonly T[], routes: Routes | undefined, concurrency: number, run: (item: T) => Promise<R>): Promise<R[]> {
  if (routes === undefined) return pMap(items, run, { concurrency });
  const lanes = new Map<string, { concurrency: number; items: T[] }>();
  for (const item of items) {
    const lane = routes.laneOf(item.name);
    const held = lanes.get(lane.name) ?? { concurrency: lane.concurrency, items: [] };
    held.items.push(item);
    lanes.set(lane.name, held);
  }
  const results = new Map<T, R>();
  await Promise.all(
    [...lanes.values()].map(async (lane) => {
      await pMap(lane.items, async (item) => results.set(item, await run(item)), { concurrency: lane.concurrency });
    }),
  );
  return items.map((item) => results.get(item) as R);
}
