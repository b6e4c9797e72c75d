/**
 * The lab of the farm-scale scenario: a thousand hosts on a few dozen rsync daemons. Each daemon
 * listens on its own address in 127.0.1.0/24 and serves many modules, each module a target with
 * its own auth user and password file, as a host would be. Targets are dealt round-robin over
 * the daemons, so the first N targets of any count are spread over all of them. Relays (the tiered
 * send) are sshds on 127.0.2.0/24, one per relay, each with a directory the update server sends to.
 */
import fs from 'node:fs';
import path from 'node:path';
import pMap from 'p-map';
import { createFarm, type Farm } from '../../harness/farm.js';
import { startDaemon, type Daemon, type DaemonModule } from '../../harness/rsyncd.js';
import { startSshd, type Sshd } from '../../harness/sshd.js';

/** Who the update server sends a change to: every host itself, or one relay per zone, which sends it on. */
export type Approach = 'direct' | 'relays';

export const HOSTS_RANGE = '127.0.1.0/24';
export const RELAYS_RANGE = '127.0.2.0/24';

export interface LabOptions {
  /** how many daemons serve the modules (addresses 127.0.1.1 ...) */
  daemons: number;
  /** module groups by name prefix, and how many modules each: { h: 1000, s: 1000, p: 100 } */
  groups: Record<string, number>;
}

export interface Lab {
  farm: Farm;
  daemons: Daemon[];
  /** each group's modules, in target order (h1, h2, ...) */
  groups: Record<string, DaemonModule[]>;
  /** what every daemon is told beyond the harness's defaults, for the report */
  daemonLines: string[];
  stop(): Promise<void>;
}

/**
 * A daemon serves its modules' connections in one listening socket: the stock backlog of 5 would
 * drop the SYNs of a farm's worth of simultaneous connects (slots connect every target's switch
 * at once) and cost each a 1 s retransmit. TCP_NODELAY as README's quick start sets it on hosts.
 */
const DAEMON_LINES = ['listen backlog = 1024', 'socket options = TCP_NODELAY'];

export async function startLab(options: LabOptions): Promise<Lab> {
  const farm = await createFarm({ targets: 0 });
  const daemons: Daemon[] = [];
  const names = Object.entries(options.groups).flatMap(([prefix, count]) => Array.from({ length: count }, (_, i) => ({ prefix, i })));
  try {
    for (let d = 0; d < options.daemons; d += 1) {
      // round-robin: target i of every group is on daemon i mod daemons
      const modules = names.filter((m) => m.i % options.daemons === d).map((m) => ({ name: `${m.prefix}${m.i + 1}` }));
      daemons.push(await startDaemon({ address: `127.0.1.${d + 1}`, root: farm.root, name: `d${d + 1}`, modules, globalLines: DAEMON_LINES }));
    }
  } catch (error) {
    await Promise.all(daemons.map((d) => d.stop()));
    await farm.cleanup();
    throw error;
  }
  const byName = new Map(daemons.flatMap((d) => d.modules.map((m) => [m.name, m] as const)));
  const groups = Object.fromEntries(Object.entries(options.groups).map(([prefix, count]) => [prefix, Array.from({ length: count }, (_, i) => byName.get(`${prefix}${i + 1}`)).filter((m) => m !== undefined)]));
  return {
    farm,
    daemons,
    groups,
    daemonLines: DAEMON_LINES,
    async stop() {
      await Promise.all(daemons.map((d) => d.stop()));
      await farm.cleanup();
    },
  };
}

/** Empties modules (keeping their directories): a group done with gives its disk back before the next. */
export async function wipe(modules: readonly DaemonModule[]): Promise<void> {
  await pMap(
    modules,
    async (m) => {
      for (const entry of await fs.promises.readdir(m.dir)) await fs.promises.rm(path.join(m.dir, entry), { recursive: true, force: true });
    },
    { concurrency: 4 },
  );
}

/** Targets as fanout's config names them: straight to each host. */
export function directTargets(modules: readonly DaemonModule[]): Record<string, unknown>[] {
  return modules.map((m) => ({ name: m.name, dest: m.dest, passwordFile: m.passwordFile }));
}

export interface Relay {
  zone: string;
  sshd: Sshd;
  /** where the update server sends the release, on the relay */
  dir: string;
}

/** One sshd per relay, each on its own address of 127.0.2.0/24, with its own directory. */
export async function startRelays(lab: Lab, count: number): Promise<Relay[]> {
  const relays: Relay[] = [];
  for (let i = 0; i < count; i += 1) {
    const dir = path.join(lab.farm.root, `relay${i + 1}`, 'site');
    fs.mkdirSync(dir, { recursive: true });
    relays.push({ zone: `zone${i + 1}`, sshd: await startSshd({ address: `127.0.2.${i + 1}`, root: lab.farm.root, lightShell: true }), dir });
  }
  return relays;
}

/**
 * The tiered config: targets in zones of `perZone` hosts, each zone's relay the update server
 * sends to once; the relay runs rsync to the rest of its zone. The shape of the relays the lead
 * is writing (targets get `zone: NAME`; `zones: { NAME: { relays: [{ dest, ssh }] } }`).
 */
export function zonedConfig(modules: readonly DaemonModule[], relays: readonly Relay[], perZone: number): { targets: Record<string, unknown>[]; zones: Record<string, unknown> } {
  const used = relays.slice(0, Math.ceil(modules.length / perZone));
  return {
    // names of their own: the journal takes them for new targets, whatever the direct run left it believing
    targets: modules.map((m, i) => ({ name: `z${m.name}`, dest: m.dest, passwordFile: m.passwordFile, zone: used[Math.floor(i / perZone)]?.zone })),
    zones: Object.fromEntries(
      used.map((r) => [
        r.zone,
        { relays: [{ dest: `${r.sshd.user}@${r.sshd.address}:${r.dir}/`, ssh: { port: r.sshd.port, identityFile: r.sshd.identityFile, knownHostsFile: r.sshd.knownHostsFile } }] },
      ]),
    ),
  };
}

export async function stopRelays(relays: readonly Relay[]): Promise<void> {
  await Promise.all(relays.map((r) => r.sshd.stop()));
}
