import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pMap from 'p-map';
import type { Config, Target } from './config.js';
import { FanoutError } from './errors.js';
import { branchTip, changedPaths, changesAttributes, checkout, commitInfo, eachTreePath, isEmptyTree, resolveCommit, switchTree, symlinkAbove, throughSymlink, treeEntryKinds, type Change, type Commit, type Diff, type EntryKind } from './git.js';
import { Journal, type HistoryEntry, type Holding, type Reason, type TargetOutcome } from './journal.js';
import { acquireLock, type Lock } from './lock.js';
import type { Logger } from './log.js';
import { displayPath, onDisk, pathProblem, shortPath, type RelPath } from './paths.js';
import { deletionRefusal, MAX_CHANGES, planTarget, preflightPass, refusedReplacement, sourceStep, type Since } from './deploy-plan.js';
import { parentOf, rsyncPasses, type RsyncPass, type SyncPlan } from './plan.js';
import type { Reporter } from './report.js';
import { previousDeploy } from './rollback.js';
import { beginCheckout, beginTransfer, checkoutFailed, checkoutSucceeded, deployFinished, refusedBeforeTransfer, sourceHolds, transferFailed, transferSucceeded, upToDate } from './state.js';
import { runRsync, type RsyncOutcome } from './rsync.js';

export interface Context {
  config: Config;
  log: Logger;
  reporter: Reporter;
}

/**
 * Which commit to deploy, decided once the lock is held: the branch tip as it stands then, any
 * revision git resolves, the deploy before the current one (rollback), or what the source holds (sync).
 */
export type Revision = { kind: 'tip' } | { kind: 'rev'; rev: string } | { kind: 'previous' } | { kind: 'source' };

export interface DeployRequest {
  revision: Revision;
  reason: Reason;
  startedBy: string;
}

export interface DeployOptions {
  dryRun: boolean;
  /** target names to deploy to; all when empty */
  targets: readonly string[];
  /** a full rsync --delete pass instead of the changed paths */
  full: boolean;
  /** with `full`: compare contents (the default for a pass an operator asks for), else size and time */
  checksum?: boolean;
  /** paths changed in the source outside git (watch): sent to every target besides its own plan */
  outsidePaths?: readonly string[];
  /** sync even from an empty source (which empties every target) */
  allowEmpty?: boolean;
  /** this deploy's bound on deletions per target, instead of the config's maxDelete */
  maxDelete?: number;
  /**
   * Do nothing, and record nothing, when every target already has the commit: a push that waited
   * for the lock while a later push of the same burst deployed the tip. Returns undefined then.
   */
  coalesce?: boolean;
}

/** Past this many incomplete checkouts the source is rewritten whole. */
const MAX_ATTEMPTED = 20;

/**
 * The engine behind push, deploy, rollback and sync: lock, check out, then for each target in
 * parallel plan from what THAT target has and run rsync, recording each outcome as it lands.
 */
export async function deploy(ctx: Context, request: DeployRequest, options: DeployOptions): Promise<HistoryEntry | undefined> {
  const { config, log } = ctx;
  const targets = selectTargets(config, options.targets);
  const lock = await takeLock(ctx, `${request.reason} by ${request.startedBy}`);
  try {
    const journal = Journal.open(config.stateDir);
    if (journal.warning !== undefined) {
      log.warn(journal.warning);
      ctx.reporter.note(`warning: ${journal.warning}`);
    }
    const commit = await chooseCommit(config, journal, request.revision);
    const current = journal.state.current;
    if (options.coalesce === true && current?.commit === commit && holdsEverywhere(journal, targets, commit)) {
      log.info({ commit, deployId: current.deployId, reason: request.reason }, 'deploy coalesced: already on every target');
      ctx.reporter.note(`fanout: ${commit.slice(0, 10)} is already on every target (deploy #${current.deployId} took it there); nothing to do`);
      return undefined;
    }
    const info = await commitInfo(config.repo, commit);
    const id = journal.state.nextDeployId;
    const startedAt = new Date();
    log.info({ deployId: id, commit, reason: request.reason, startedBy: request.startedBy, dryRun: options.dryRun }, 'deploy started');

    // Facts first, nothing touched yet: every diff this deploy acts on (each checked for names
    // fanout refuses, as it is read), the commit's whole tree when the source must be rewritten,
    // and whether the commit empties the site.
    const diffs = diffCache(config.repo, log);
    const sourceReady = sourceHolds(journal.state, commit);
    const sourceSince = sourceReady ? undefined : await changesSince(diffs, journal.state.source, commit);
    const named = (since: Since | undefined): Change[] => (since?.kind === 'named' ? since.changes : []);
    const targetSince = new Map<string, Since | undefined>();
    for (const target of targets) targetSince.set(target.name, await changesSince(diffs, journal.target(target.name), commit));
    await assertNoEntryBelowFile(config.repo, commit, [...named(sourceSince), ...[...targetSince.values()].flatMap(named)], log);
    if (!sourceReady) {
      if (sourceSince === undefined || changesAttributes(named(sourceSince))) await assertTreeNamesSafe(config.repo, commit, log);
      if (options.allowEmpty !== true && (await isEmptyTree(config.repo, commit, log))) {
        throw new FanoutError(`commit ${commit.slice(0, 10)} has no files; refusing to deploy it (it would empty every target); nothing was touched. --allow-empty if that is intended`);
      }
    }
    if (!options.dryRun && !sourceReady) {
      try {
        await checkOutSource(ctx, journal, sourceSince, commit);
      } catch (error) {
        // a checkout the file system refused is a failed deploy: in the history and in status
        if (error instanceof FanoutError && error.exitCode === 1) {
          await journal.update((s) => {
            checkoutFailed(s, id, error.message);
          });
          const at = new Date().toISOString();
          journal.appendHistory({ id, startedAt: startedAt.toISOString(), finishedAt: at, commit, subject: info.subject, reason: request.reason, startedBy: request.startedBy, targets: [], error: error.message });
        }
        throw error;
      }
    }
    if (options.allowEmpty !== true) assertSourceNotEmpty(config.source);

    const maxDelete = options.maxDelete ?? config.maxDelete;
    const syncOptions: SyncOptions = {
      dryRun: options.dryRun,
      maxDelete,
      full: options.full,
      checksum: options.checksum ?? true,
      outsidePaths: options.outsidePaths ?? [],
      // A dry run with the source at another commit cannot ask rsync; it reports the plan.
      planOnly: options.dryRun && !sourceReady,
    };
    // what the commit has at a path: the source tells once it holds the commit (and edits made
    // outside git, for watch); a dry run before the checkout asks git
    const kinds = syncOptions.planOnly ? (paths: readonly RelPath[]) => treeEntryKinds(config.repo, commit, paths, log) : (paths: readonly RelPath[]) => Promise.resolve(sourceKinds(config.source, paths));
    const plans = new Map<string, SyncPlan>();
    for (const target of targets) {
      const state = journal.target(target.name);
      const facts = { state, since: targetSince.get(target.name), full: syncOptions.full, checksum: syncOptions.checksum, outsidePaths: syncOptions.outsidePaths };
      let planned = planTarget(facts);
      if ('lookUp' in planned) planned = planTarget(facts, await kinds(planned.lookUp));
      if ('lookUp' in planned) throw new Error('a plan asked twice for the kinds of its paths');
      plans.set(target.name, planned);
    }
    const preflights = new Map<string, Preflight>();
    if (!syncOptions.planOnly) {
      await pMap(
        targets,
        async (target) => {
          const preflight = await preflightFor(ctx, target, plans.get(target.name) ?? { kind: 'none' }, maxDelete);
          if (preflight !== undefined) preflights.set(target.name, preflight);
        },
        { concurrency: config.concurrency },
      );
    }
    if (maxDelete !== undefined) {
      const counted = new Map([...preflights].map(([name, p]) => [name, p.deletions]));
      const refused = deletionRefusal(targets.map((t) => t.name), plans, counted, maxDelete, options.dryRun);
      if (refused !== undefined) throw new FanoutError(refused);
    }

    const outcomes = await pMap(
      targets,
      async (target) => {
        const outcome = await syncTarget(ctx, journal, target, commit, plans.get(target.name) ?? { kind: 'none' }, preflights.get(target.name), syncOptions);
        ctx.reporter.targetDone(outcome);
        return outcome;
      },
      { concurrency: config.concurrency },
    );

    const entry: HistoryEntry = {
      id,
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      commit,
      subject: info.subject,
      reason: request.reason,
      startedBy: request.startedBy,
      ...(options.dryRun ? { dryRun: true } : {}),
      targets: outcomes,
    };
    if (!options.dryRun) {
      await journal.update((s) => {
        deployFinished(s, id, commit, entry.finishedAt);
      });
      journal.appendHistory(entry);
    }
    log.info({ deployId: id, commit, targets: outcomes }, 'deploy finished');
    ctx.reporter.deployDone(entry);
    return entry;
  } finally {
    lock.release();
  }
}

function holdsEverywhere(journal: Journal, targets: readonly Target[], commit: Commit): boolean {
  return sourceHolds(journal.state, commit) && targets.every((t) => upToDate(journal.target(t.name), commit));
}

/** The deploy lock, telling the person waiting for it whom they wait for. */
export function takeLock(ctx: Context, purpose: string): Promise<Lock> {
  return acquireLock(ctx.config.stateDir, ctx.config.lockTimeout, purpose, ctx.log, (holder) => {
    ctx.reporter.note(`waiting for the deploy in progress (${holder})`);
  });
}

async function chooseCommit(config: Config, journal: Journal, revision: Revision): Promise<Commit> {
  switch (revision.kind) {
    case 'rev':
      return resolveCommit(config.repo, revision.rev);
    case 'tip': {
      const tip = await branchTip(config.repo, config.branch);
      if (tip === undefined) throw new FanoutError(`branch "${config.branch}" has no commits in ${config.repo} yet: push to it first`);
      return tip;
    }
    case 'previous': {
      const previous = previousDeploy(journal.readHistory());
      if (previous === undefined) throw new FanoutError('no earlier deploy to roll back to (see fanout history); name a revision: fanout rollback REV');
      return previous;
    }
    case 'source': {
      const held = journal.state.source.commit;
      if (held === null) throw new FanoutError(`the source ${config.source} holds no deployed commit yet: deploy first (git push or fanout deploy)`);
      return held;
    }
  }
}

export function selectTargets(config: Config, names: readonly string[]): Target[] {
  if (config.targets.length === 0) throw new FanoutError(`config ${config.file}: targets: none configured; add at least one`);
  if (names.length === 0) return config.targets;
  return names.map((name) => {
    const target = config.targets.find((t) => t.name === name);
    if (target === undefined) throw new FanoutError(`unknown target "${name}"; configured: ${config.targets.map((t) => t.name).join(', ')}`);
    return target;
  });
}

/** Invariant 8 for a source rewritten whole: every name in the commit's tree, streamed. */
async function assertTreeNamesSafe(repo: string, commit: Commit, log: Logger): Promise<void> {
  let bad: string | undefined;
  await eachTreePath(repo, commit, log, (rel) => {
    if (bad !== undefined) return;
    const problem = pathProblem(rel);
    if (problem !== undefined) bad = refusal(commit, rel, problem);
  });
  if (bad !== undefined) throw new FanoutError(bad);
}

/**
 * A crafted tree can hold the same name twice (a symlink `d` and a directory `d/`; git's fsck
 * refuses it, but receive.fsckObjects is off by default): a path the commit has is then below
 * something that is not a directory in it. Every directory above what the commit writes is
 * looked up in its tree, in one git call.
 */
async function assertNoEntryBelowFile(repo: string, commit: Commit, changes: readonly Change[], log: Logger): Promise<void> {
  const above = new Set<RelPath>();
  for (const change of changes) if (change.entry !== undefined) for (let dir = parentOf(change.path); dir !== '.' && !above.has(dir); dir = parentOf(dir)) above.add(dir);
  const refuse = (dir: RelPath): never => {
    throw new FanoutError(`commit ${commit.slice(0, 10)} has entries below "${shortPath(dir)}", which is not a directory in it (a tree with the same name twice); refusing to deploy it, nothing was touched`);
  };
  for (const change of changes) if (change.entry !== undefined && above.has(change.path)) refuse(change.path);
  for (const [dir, kind] of await treeEntryKinds(repo, commit, [...above], log)) if (kind !== 'directory') refuse(dir);
}

function refusal(commit: Commit, rel: RelPath, problem: string): string {
  return `commit ${commit.slice(0, 10)} names ${problem}: "${shortPath(rel)}"; refusing to deploy it, nothing was touched`;
}

/** Invariant 6: --delete never runs from an empty or missing source. */
function assertSourceNotEmpty(source: string): void {
  let entries: string[];
  try {
    entries = fs.readdirSync(source);
  } catch {
    throw new FanoutError(`source ${source} does not exist; refusing to sync (it would empty every target)`);
  }
  if (entries.length === 0) throw new FanoutError(`source ${source} is empty; refusing to sync (it would empty every target); --allow-empty if that is intended`);
}

interface SyncOptions {
  dryRun: boolean;
  maxDelete: number | undefined;
  full: boolean;
  checksum: boolean;
  outsidePaths: readonly string[];
  planOnly: boolean;
}

/**
 * Bring `source` to `commit`, writing only the paths that differ from what it holds. The attempt
 * is journalled first, so that a checkout cut short is redone in full next time.
 */
async function checkOutSource(ctx: Context, journal: Journal, since: Since | undefined, commit: Commit): Promise<void> {
  const { config, log } = ctx;
  const step = sourceStep(journal.state.source, since);
  const link = step.kind === 'paths' ? symlinkAbove(config.source, step.writes.map((c) => c.path)) : undefined;
  if (link !== undefined) throw throughSymlink(link);
  await journal.update((s) => {
    beginCheckout(s, commit);
  });
  const started = performance.now();
  const scratchIndex = path.join(config.stateDir, 'checkout.index');
  if (step.kind === 'switch') await switchTree(config.repo, config.source, step.from, commit, scratchIndex, log);
  else {
    const removeOthers = step.kind === 'all' && step.removeOthers ? { keep: [...config.protect, ...config.exclude] } : undefined;
    await checkout(config.repo, config.source, commit, step.kind === 'paths' ? step.writes : 'all', scratchIndex, log, removeOthers);
  }
  const paths = step.kind === 'paths' ? step.writes.length : step.kind === 'switch' ? `more than ${MAX_CHANGES}` : 'all';
  log.info({ commit, paths, durationMs: Math.round(performance.now() - started) }, 'source checked out');
  await journal.update((s) => {
    checkoutSucceeded(s, commit);
  });
}

/** What a dry run of a pass said before the real one ran. */
interface Preflight {
  /** files and directories the pass would delete, as rsync counts them for --max-delete */
  deletions: number;
  /** why the pass must not run on this target: a directory holding protected content must become a file */
  refused?: string;
  /** the dry run itself failed (the target unreachable, say): the target fails with this */
  failure?: { error: string; attempts: number; durationMs: number };
}

/**
 * Some passes are asked of rsync as a dry run first, so that nothing happens on a target before it
 * is known to be safe: a full pass when maxDelete bounds it (its deletions are known only to rsync)
 * or when protect or exclude rules exist (a directory holding protected content that must become a
 * file makes rsync delete the rest of it before giving up); a paths pass that replaces a directory,
 * for the second reason. Contents are not compared: neither answer depends on them.
 */
async function preflightFor(ctx: Context, target: Target, plan: SyncPlan, maxDelete: number | undefined): Promise<Preflight | undefined> {
  const { config } = ctx;
  const pass = preflightPass(plan, config, maxDelete);
  if (pass === undefined) return undefined;
  // rsync names the protected path that stops it (local targets: a daemon caps debug output)
  const result = await rsyncWithRetries(ctx, target, pass, { dryRun: true, maxDelete: undefined, extra: ['--debug=FILTER1'] });
  const counted = { deletions: result.outcome.deletions };
  if (result.outcome.blockedBy !== undefined) return { ...counted, refused: refusedReplacement(result.outcome.blockedBy, result.outcome.protectedNames, config) };
  if (!result.outcome.ok) return { ...counted, failure: { error: result.outcome.error ?? 'rsync failed', attempts: result.attempts, durationMs: result.durationMs } };
  return counted;
}

/** One pass, retried as the config says when its connection fails; the last attempt's outcome. */
async function rsyncWithRetries(
  ctx: Context,
  target: Target,
  pass: RsyncPass,
  options: { dryRun: boolean; maxDelete: number | undefined; extra?: string[]; keepItems?: boolean; onProgress?: (done: number) => void },
): Promise<{ outcome: RsyncOutcome; attempts: number; durationMs: number; untouched: boolean }> {
  const { config, log } = ctx;
  let durationMs = 0;
  // true until an rsync gets past the daemon's greeting: then files may have moved
  let untouched = true;
  for (let attempt = 1; ; attempt += 1) {
    const outcome = await runRsync({
      config,
      target,
      pass,
      dryRun: options.dryRun,
      log,
      rsyncPath: config.rsync.path,
      maxDelete: options.maxDelete,
      extra: options.extra,
      keepItems: options.keepItems,
      onProgress: (counts) => options.onProgress?.(counts.sent + counts.deleted),
    });
    durationMs += outcome.durationMs;
    untouched &&= outcome.untouched;
    if (outcome.ok || !outcome.retryable || attempt > config.retries) return { outcome, attempts: attempt, durationMs, untouched };
    const delay = config.retryDelay * 1000 * 2 ** (attempt - 1);
    log.warn({ target: target.name, attempt, error: outcome.error, retryInMs: delay }, 'rsync failed; retrying');
    await sleep(delay);
  }
}

async function syncTarget(
  ctx: Context,
  journal: Journal,
  target: Target,
  commit: Commit,
  plan: SyncPlan,
  preflight: Preflight | undefined,
  options: SyncOptions,
): Promise<TargetOutcome> {
  const { log } = ctx;
  const before = journal.target(target.name);
  const from = before?.commit ?? null;
  const base = { name: target.name, from, mode: plan.kind, sent: 0, deleted: 0, bytes: 0, durationMs: 0, attempts: 0 } as const;
  log.info({ target: target.name, plan: plan.kind, from, sends: plan.kind === 'paths' ? plan.sends.length : undefined, removals: plan.kind === 'paths' ? plan.removals.length : undefined }, 'target plan');

  if (plan.kind === 'none') {
    // the tree is the same (an empty commit, a revert of a revert): the target now holds this commit
    if (!options.dryRun && !upToDate(before, commit)) {
      await journal.update((s) => {
        transferSucceeded(s, target.name, commit, new Date().toISOString());
      });
    }
    return { ...base, status: 'ok' };
  }
  if (options.planOnly) {
    if (plan.kind === 'full') return { ...base, status: 'ok', items: [`a full pass (${plan.why}): every file, and deletion of whatever the commit lacks`] };
    const directories = new Set(plan.sends.map(parentOf));
    const items = [...plan.sends.filter((p) => !directories.has(p)).map((p) => `>f          ${displayPath(p)}`), ...plan.removals.map((p) => `*deleting   ${displayPath(p)}`)];
    return { ...base, status: 'ok', sent: plan.changed, deleted: plan.deleted, items };
  }
  const refused = preflight?.refused ?? preflight?.failure?.error;
  if (refused !== undefined) {
    const outcome: TargetOutcome = { ...base, status: 'failed', error: refused, attempts: preflight?.failure?.attempts ?? 1, durationMs: preflight?.failure?.durationMs ?? 0 };
    if (!options.dryRun) {
      await journal.update((s) => {
        refusedBeforeTransfer(s, target.name, refused);
      });
    }
    log.error({ target: target.name, ...outcome }, 'target done');
    return outcome;
  }
  const alreadyAttempted = before?.attempted.includes(commit) === true;
  if (!options.dryRun) {
    // Recorded before rsync starts: if fanout dies mid-transfer, the next run knows which paths
    // may be half-sent on this target.
    await journal.update((s) => {
      beginTransfer(s, target.name, commit, options.outsidePaths);
    });
  }

  const totals = { sent: 0, deleted: 0, bytes: 0, durationMs: 0, attempts: 0, items: [] as string[] };
  let failure: string | undefined;
  let untouched = true;
  const passes: RsyncPass[] = plan.kind === 'paths' ? rsyncPasses(plan) : [{ kind: 'full', checksum: plan.checksum }];
  for (const pass of passes) {
    const done = totals.sent + totals.deleted;
    const result = await rsyncWithRetries(ctx, target, pass, {
      dryRun: options.dryRun,
      maxDelete: options.maxDelete,
      keepItems: options.dryRun,
      onProgress: (files) => {
        ctx.reporter.progress(target.name, done + files);
      },
    });
    // a retried pass re-sends what an attempt cut short already sent: count the last attempt only
    totals.sent += result.outcome.sent;
    totals.deleted += result.outcome.deleted;
    totals.bytes += result.outcome.bytes;
    totals.items.push(...result.outcome.items);
    totals.durationMs += result.durationMs;
    totals.attempts += result.attempts;
    untouched &&= result.untouched;
    if (!result.outcome.ok) {
      failure = result.outcome.error ?? 'rsync failed';
      break;
    }
  }

  const ok = failure === undefined;
  const { items, ...counts } = totals;
  const outcome: TargetOutcome = { ...base, ...counts, status: ok ? 'ok' : 'failed' };
  if (!ok) outcome.error = failure;
  if (options.dryRun) outcome.items = items;
  if (!options.dryRun) {
    await journal.update((s) => {
      if (ok) transferSucceeded(s, target.name, commit, new Date().toISOString());
      else transferFailed(s, target.name, commit, failure ?? 'rsync failed', { untouched, alreadyAttempted });
    });
  }
  log[ok ? 'info' : 'error']({ target: target.name, ...outcome }, 'target done');
  return outcome;
}

/** `git diff` between two commits, asked once per deploy however many targets need it; undefined past MAX_CHANGES paths. */
type DiffCache = (from: Commit, to: Commit) => Promise<Pick<Diff, 'changes' | 'attributes'>>;

/** Every diff is checked for names fanout refuses (invariant 8) as it is read, before anything acts on it. */
function diffCache(repo: string, log: Logger): DiffCache {
  const cache = new Map<string, Promise<Pick<Diff, 'changes' | 'attributes'>>>();
  return (from, to) => {
    if (from === to) return Promise.resolve({ changes: [], attributes: false });
    const key = `${from}..${to}`;
    let changes = cache.get(key);
    if (changes === undefined) {
      changes = changedPaths(repo, from, to, log, MAX_CHANGES).then((diff) => {
        if (diff.refused !== undefined) throw new FanoutError(refusal(to, diff.refused.path, diff.refused.problem));
        return { changes: diff.changes, attributes: diff.attributes };
      });
      cache.set(key, changes);
    }
    return changes;
  };
}


/**
 * What differs between a tree's holding and `commit`: the diff from the commit it last received
 * completely, plus every path an incomplete later attempt may have touched. Undefined when that
 * cannot be known (nothing recorded, too many attempts, or a commit gone from the repository after
 * a force push and gc): then only rewriting everything is safe.
 */
async function changesSince(diffs: DiffCache, held: Holding | undefined, commit: Commit): Promise<Since | undefined> {
  if (held?.commit == null || held.attempted.length > MAX_ATTEMPTED) return undefined;
  const base = held.commit;
  const extra: Change[] = [];
  try {
    const { changes, attributes } = await diffs(base, commit);
    if (changes === undefined) return { kind: 'too many', attributes };
    for (const attempted of held.attempted) {
      const touched = await diffs(base, attempted);
      if (touched.changes === undefined) return { kind: 'too many', attributes };
      extra.push(...touched.changes);
    }
    return { kind: 'named', changes, extra };
  } catch (error) {
    if (error instanceof FanoutError) throw error;
    // git cannot diff from a commit it no longer has: fall back to rewriting everything
    return undefined;
  }
}

function sourceKinds(source: string, paths: readonly RelPath[]): Map<RelPath, EntryKind> {
  const kinds = new Map<RelPath, EntryKind>();
  for (const p of paths) {
    try {
      kinds.set(p, fs.lstatSync(onDisk(source, p)).isDirectory() ? 'directory' : 'other');
    } catch {
      kinds.set(p, 'missing');
    }
  }
  return kinds;
}

/** Who started a deploy, for the history: the person behind sudo, not only the account it ran as. */
export function whoAmI(env: NodeJS.ProcessEnv = process.env): string {
  let user: string;
  try {
    user = os.userInfo().username;
  } catch {
    user = `uid ${process.getuid?.() ?? '?'}`;
  }
  const behind = env.SUDO_USER;
  return behind !== undefined && behind !== '' && behind !== user ? `${behind} (sudo as ${user})` : user;
}
