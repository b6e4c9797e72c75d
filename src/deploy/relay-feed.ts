import fs from 'node:fs';
import path from 'node:path';
import pMap from 'p-map';
import { targetNamed, type Relay, type Target, type Zone } from '../base/config.js';
import { zoneOf } from '../base/config-zones.js';
import { run, firstLine } from '../base/exec.js';
import { ownSubdir } from '../base/trust.js';
import type { Context } from '../engine/context.js';
import type { Holding, Journal, State } from '../engine/journal.js';
import type { RelPath } from '../base/paths.js';
import { passesOf, rsyncWithRetries } from '../engine/passes.js';
import { relayRoutes, shareAmong, type LiveRelay, type Routes } from '../engine/relay-routes.js';
import { relayFeedBegun, relayFed } from '../engine/state.js';
import type { RsyncPass } from '../transport/rsync-pass.js';
import { markerArgs, openRelay, secretsArgs, type RelaySession } from '../transport/relay.js';
import { planTarget } from './deploy-plan.js';
import { changesSince, diffCache, sourceKinds } from './read-facts.js';
import type { PlannedDeploy } from './record.js';

// Tier one of a deploy through relays (docs/guides/many-hosts.md): the release sent once to each relay
// whose zone has something to take, planned from what that relay holds as a target's pass is, with
// the zone's daemon passwords beside it. The targets' own passes then run on the relays.

/** The relays this deploy sends through, and what closes their connections once it is over. */
export interface FedRelays {
  routes: Routes | undefined;
  close(): Promise<void>;
}

/** Each zone with relays and something to send gets the release on its relays; returns the routes its targets take. */
export async function feedRelays(ctx: Context, journal: Journal, plan: PlannedDeploy): Promise<FedRelays> {
  const { config } = ctx;
  const zones = new Map<Zone, string[]>();
  for (const target of plan.targets) {
    const zone = zoneOf(config.zones, targetNamed(config, target.name));
    if (zone === undefined || zone.relays.length === 0) continue;
    zones.set(zone, [...(zones.get(zone) ?? []), target.name]);
  }
  // nothing to send in a zone (a rollback that is only a switch): its relays are not even asked
  const needed = [...zones].filter(([, names]) => names.some((name) => plan.targets.find((t) => t.name === name)?.sync.kind !== 'none'));
  if (needed.length === 0) return { routes: undefined, close: () => Promise.resolve() };
  const relays = needed.flatMap(([zone]) => zone.relays);
  ctx.reporter.progress({ kind: 'phase', name: 'relays', detail: `the release to ${relays.length} relay${relays.length === 1 ? '' : 's'}` });
  const fedSoFar: RelaySession[] = [];
  let sessions: (RelaySession | undefined)[];
  try {
    // every relay's feed runs to its end, so that each connection opened is known here and closed if one threw
    sessions = await pMap(
      relays,
      async (relay) => {
        const session = await feedRelay(ctx, journal, plan, relay, outsideGit(journal.state, zoneMembers(config, relay.zone)));
        if (session !== undefined) fedSoFar.push(session);
        return session;
      },
      { concurrency: config.concurrency, stopOnError: false },
    );
  } catch (error) {
    // an ssh master left running would hold the deploy's process, and its lock, open
    await Promise.all(fedSoFar.map((s) => s.close()));
    // p-map gathers every feed's error: the first is the deploy's (a FanoutError keeps its one line)
    throw error instanceof AggregateError ? error.errors[0] : error;
  }
  const candidates = new Map<string, LiveRelay[]>();
  for (const [zone, names] of needed) {
    const fed = sessions.filter((s): s is RelaySession => s !== undefined && s.relay.zone === zone.name);
    if (fed.length === 0) ctx.reporter.note(`zone ${zone.name}: no relay took the release; its ${names.length} target${names.length === 1 ? ' is' : 's are'} sent directly`);
    const live = fed.map((s): LiveRelay => ({ hop: s.hop, alive: () => s.alive(), check: () => s.check(), concurrency: zone.concurrency }));
    for (const [name, order] of shareAmong(names, live)) candidates.set(name, order);
  }
  return {
    routes: relayRoutes(candidates, config.concurrency, (line) => {
      ctx.reporter.note(line);
    }),
    close: async () => {
      await Promise.all(sessions.map((s) => s?.close() ?? Promise.resolve()));
    },
  };
}

/** One relay: connected, its release brought to the commit, its zone's passwords beside it; undefined (said why) when it cannot serve. */
async function feedRelay(ctx: Context, journal: Journal, plan: PlannedDeploy, relay: Relay, dirty: readonly RelPath[]): Promise<RelaySession | undefined> {
  const { config, log } = ctx;
  const opened = await openRelay(relay, ownSubdir(config.stateDir, 'ssh'), log);
  if ('error' in opened) {
    ctx.reporter.note(`relay ${relay.name} (zone ${relay.zone}) cannot be used: ${opened.error}`);
    log.warn({ relay: relay.name, error: opened.error }, 'relay unusable');
    return undefined;
  }
  let failure: string | undefined;
  try {
    failure = (await sendRelease(ctx, journal, plan, opened, dirty)) ?? (await sendSecrets(ctx, opened));
  } catch (error) {
    await opened.close();
    throw error;
  }
  if (failure === undefined) return opened;
  ctx.reporter.note(`relay ${relay.name} (zone ${relay.zone}) cannot be used: ${failure}`);
  log.warn({ relay: relay.name, error: failure }, 'relay unusable');
  await opened.close();
  return undefined;
}

/** The relay's release brought to the commit, journalled before and after; the failure in words, or undefined. */
async function sendRelease(ctx: Context, journal: Journal, plan: PlannedDeploy, session: RelaySession, dirty: readonly RelPath[]): Promise<string | undefined> {
  const { relay } = session;
  const passes = await releasePasses(ctx, await heldOnRelay(ctx, journal, session), plan, dirty);
  await journal.update((s) => {
    relayFeedBegun(s, relay.name, plan.commit);
  });
  const release: Target = { name: `relay ${relay.name}`, dest: { ...relay.dest, path: session.hop.release }, passwordFile: undefined, timeout: relay.timeout, ssh: session.ssh, layout: { kind: 'in-place' }, checkUrl: undefined, zone: undefined };
  // the release is the commit as it is, nothing kept: `protect` guards what targets hold, not a copy of the source
  const plain = { ...ctx, config: { ...ctx.config, protect: [] }, routes: undefined };
  for (const pass of passes) {
    const result = await rsyncWithRetries(plain, release, pass, { dryRun: false, maxDelete: undefined });
    if (!result.outcome.ok) return `sending it the release: ${result.outcome.error ?? 'rsync failed'}`;
  }
  const unmarked = await inScratch(ctx, 'marker-', (dir) => {
    const local = path.join(dir, 'release-commit');
    fs.writeFileSync(local, `${plan.commit}\n`, { mode: 0o600 });
    return smallRsync(ctx, session, markerArgs(session, local, 'store'), 'noting on it which release it holds');
  });
  if (unmarked !== undefined) return unmarked;
  await journal.update((s) => {
    relayFed(s, relay.name, plan.commit);
  });
  return undefined;
}

/**
 * What the journal says the relay's release holds, if the relay says so too (releaseMarker); else
 * nothing is assumed of it, and it is sent whole.
 */
async function heldOnRelay(ctx: Context, journal: Journal, session: RelaySession): Promise<Holding | undefined> {
  const { relay } = session;
  const recorded = journal.state.relays?.[relay.name];
  if (recorded?.commit == null) return recorded;
  const said = await inScratch(ctx, 'marker-', async (dir) => {
    const local = path.join(dir, 'release-commit');
    const unread = await smallRsync(ctx, session, markerArgs(session, local, 'fetch'), 'reading its note');
    // a marker that is missing, or not a file, says nothing
    return unread === undefined && fs.lstatSync(local, { throwIfNoEntry: false })?.isFile() === true ? fs.readFileSync(local, 'utf8').trim() : undefined;
  });
  if (said === recorded.commit) return recorded;
  const there = said === undefined ? 'no note of it there' : /^[0-9a-f]{40,64}$/.test(said) ? `its note says ${said.slice(0, 10)}` : 'its note names no commit';
  ctx.reporter.note(`relay ${relay.name} (zone ${relay.zone}) is not known to hold ${recorded.commit.slice(0, 10)}, the release fanout last sent it (${there}): it is sent the release whole`);
  ctx.log.warn({ relay: relay.name, recorded: recorded.commit, said: said?.slice(0, 64) }, 'relay release not as recorded');
  return undefined;
}

/** `use` given a fresh scratch directory, removed after: one of its own for each relay, since a zone's relays are fed at once. */
async function inScratch<T>(ctx: Context, prefix: string, use: (dir: string) => Promise<T>): Promise<T> {
  const dir = fs.mkdtempSync(path.join(ownSubdir(ctx.config.stateDir, 'links'), prefix));
  try {
    return await use(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** rsync of fanout's own small files to or from a relay (its secrets, its note), riding its master; the failure in words, or undefined. */
async function smallRsync(ctx: Context, session: RelaySession, args: string[], doing: string): Promise<string | undefined> {
  const done = await run(ctx.config.rsync.path, args, { log: ctx.log, timeoutMs: session.relay.timeout * 2000 });
  return done.exitCode === 0 ? undefined : `${doing}: rsync exit ${done.exitCode}: ${firstLine(done.stderr)}`;
}

/** What a relay's release needs, planned as a target's pass is: from the commit it holds, a full pass when that is unknown. */
async function releasePasses(ctx: Context, held: Holding | undefined, plan: PlannedDeploy, dirty: readonly RelPath[]): Promise<RsyncPass[]> {
  const { config, log } = ctx;
  const since = await changesSince(diffCache(config.repo, log).read, held, plan.commit);
  // what watch changed outside git that a target of the zone still lacks is sent from the release too
  const outsidePaths = [...new Set([...plan.outsidePaths, ...dirty])];
  const facts = { state: held === undefined ? undefined : { ...held, at: null, status: 'ok' as const }, since, full: plan.repair, checksum: plan.repair, outsidePaths };
  let sync = planTarget(facts);
  // the source holds the commit by now: what each named path is there is what the commit has
  if ('lookUp' in sync) sync = planTarget(facts, sourceKinds(config.source, sync.lookUp));
  if ('lookUp' in sync) throw new Error('planTarget asked for kinds it was given');
  return sync.kind === 'none' ? [] : passesOf(sync);
}

/** The password files of the zone's daemon targets, copied to the relay's secrets directory (and any other removed there). */
function sendSecrets(ctx: Context, session: RelaySession): Promise<string | undefined> {
  return inScratch(ctx, 'secrets-', (scratch) => {
    for (const { name, zone, passwordFile } of ctx.config.targets) {
      if (zone === session.relay.zone && passwordFile !== undefined) fs.symlinkSync(passwordFile, path.join(scratch, name));
    }
    return smallRsync(ctx, session, secretsArgs(scratch, session), "sending it the zone's daemon passwords");
  });
}

function zoneMembers(config: Context['config'], zone: string): string[] {
  return config.targets.filter((t) => t.zone === zone).map((t) => t.name);
}

/** The paths changed outside git (by watch) that these targets, or a slot of theirs, may still lack. */
function outsideGit(state: State, names: readonly string[]): RelPath[] {
  const dirty = new Set<RelPath>();
  for (const name of names) {
    const target = state.targets[name];
    for (const tree of [target, ...Object.values(target?.slots ?? {})]) for (const p of tree?.dirty ?? []) dirty.add(p);
  }
  return [...dirty];
}
