import path from 'node:path';
import { parseDest } from './dest.js';
import { errorMessage } from './errors.js';
import type { Fail, RawConfig } from './config-schema.js';
import { normalizeSsh, type Resolve } from './config-sections.js';
import type { Relay, Target, Zone } from './config.js';

// zones: targets grouped by where they stand, each zone with the relays that pass a release on to
// the rest of it (docs/guides/many-hosts.md). Read after the targets, whose `zone` fields they answer.

/** Every zone, in the config's order, its relays parsed; a target's zone must be one of them. */
export function normalizeZones(c: RawConfig, targets: readonly Target[], abs: Resolve, fail: Fail): Zone[] {
  const zones = Object.entries(c.zones).map(([name, zone]): Zone => ({
    name,
    relays: zone.relays.map((relay, i) => normalizeRelay(relay, name, `zones.${name}.relays[${i}]`, c.timeout, abs, fail)),
    concurrency: zone.concurrency ?? c.concurrency,
  }));
  targets.forEach((target, i) => {
    if (target.zone === undefined) return;
    const zone = zones.find((z) => z.name === target.zone);
    if (zone === undefined) fail(`targets[${i}].zone`, `no zone named "${target.zone}"${zones.length === 0 ? ' (zones: lists none)' : `; zones: ${zones.map((z) => z.name).join(', ')}`}`);
    // a relay runs rsync on its own host: a directory on the update server is not there to reach
    if (zone.relays.length > 0 && target.dest.kind === 'local') fail(`targets[${i}].zone`, `${target.name} is a directory on the update server, which zone ${zone.name}'s relays cannot reach; leave it out of the zone`);
  });
  const seen = new Map<string, string>();
  for (const zone of zones) {
    for (const relay of zone.relays) {
      const place = `${relay.dest.host}:${relay.dest.path}`;
      const other = seen.get(place);
      if (other !== undefined) fail(`zones.${zone.name}.relays`, `${relay.name} is also a relay of zone ${other}: two zones would write one release directory`);
      seen.set(place, zone.name);
    }
  }
  return zones;
}

function normalizeRelay(raw: RawConfig['zones'][string]['relays'][number], zone: string, where: string, timeout: number, abs: Resolve, fail: Fail): Relay {
  let dest;
  try {
    dest = parseDest(raw.dest);
  } catch (error) {
    return fail(`${where}.dest`, errorMessage(error));
  }
  if (dest.kind !== 'ssh') return fail(`${where}.dest`, 'a relay is reached over ssh: user@host:/directory (a directory of fanout\'s own on that host)');
  if (!path.posix.isAbsolute(dest.path)) fail(`${where}.dest`, `the directory on the relay must be absolute (${dest.host}:/var/cache/fanout/site)`);
  if (path.posix.normalize(dest.path) === '/') fail(`${where}.dest`, 'not / itself: fanout writes release/ and secrets/ inside this directory, and deletes what is not the release there');
  return { name: raw.dest, zone, dest: { ...dest, path: path.posix.normalize(dest.path).replace(/\/$/, '') }, ssh: normalizeSsh(raw.ssh, abs), timeout };
}

/** The zone a target stands in, and its relays (none: sent to directly). */
export function zoneOf(zones: readonly Zone[], target: Pick<Target, 'zone'>): Zone | undefined {
  return target.zone === undefined ? undefined : zones.find((z) => z.name === target.zone);
}
