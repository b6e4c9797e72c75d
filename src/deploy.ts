import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pMap from 'p-map';
import type { Config, Target } from './config.js';
import { FanoutError } from './errors.js';
import { branchTip, changedPaths, checkout, commitInfo, resolveCommit, type Change, type Commit } from './git.js';
import { Journal, type HistoryEntry, type Holding, type Reason, type TargetOutcome, type TargetState } from './journal.js';
import { acquireLock, type Lock } from './lock.js';
import type { Logger } from './log.js';
import { candidatePaths, planSync, rsyncPasses, type SyncPlan } from './plan.js';
import type { Reporter } from './report.js';
import { previousDeploy } from './rollback.js';
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

/** Past this many incomplete checkouts the source is rewritten whole; past this many outside-git paths a target gets a full pass. */
const MAX_ATTEMPTED = 20;
const MAX_DIRTY = 100_000;

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

    const diffs = diffCache(config.repo);
    const maxDelete = options.maxDelete ?? config.maxDelete;
    if (maxDelete !== undefined && !options.dryRun) await assertDeletionsWithin(diffs, journal, targets, commit, maxDelete);
    const sourceReady = journal.state.source.commit === commit && journal.state.source.attempted.length === 0;
    if (!options.dryRun && !sourceReady) await checkOutSource(ctx, journal, diffs, commit);
    if (options.allowEmpty !== true) assertSourceNotEmpty(config.source);

    const outcomes = await pMap(
      targets,
      async (target) => {
        const outcome = await syncTarget(ctx, journal, diffs, target, commit, {
          dryRun: options.dryRun,
          maxDelete,
          full: options.full,
          checksum: options.checksum ?? true,
          outsidePaths: options.outsidePaths ?? [],
          // A dry run with the source at another commit cannot ask rsync; it reports the plan.
          planOnly: options.dryRun && !sourceReady,
        });
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
        s.nextDeployId = id + 1;
        s.current = { commit, deployId: id, at: entry.finishedAt };
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
  const { source } = journal.state;
  if (source.commit !== commit || source.attempted.length > 0) return false;
  return targets.every((t) => {
    const state = journal.target(t.name);
    return state?.status === 'ok' && state.commit === commit && (state.dirty ?? []).length === 0;
  });
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

/**
 * A deploy that would delete more than `maxDelete` files on any target is refused before anything
 * is touched: a commit that lost half the site is far likelier a mistake than a release. Counted
 * from each target's own plan; rsync's --max-delete backs it up for full passes.
 */
async function assertDeletionsWithin(diffs: DiffCache, journal: Journal, targets: readonly Target[], commit: Commit, maxDelete: number): Promise<void> {
  for (const target of targets) {
    const since = await changesSince(diffs, journal.target(target.name), commit);
    const deletions = since?.changes.filter((c) => c.status === 'D').length ?? 0;
    if (deletions > maxDelete) {
      throw new FanoutError(
        `the deploy would delete ${deletions} files on ${target.name}, more than maxDelete (${maxDelete}); nothing was touched. If that is intended: fanout deploy --max-delete ${deletions}`,
      );
    }
  }
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
async function checkOutSource(ctx: Context, journal: Journal, diffs: DiffCache, commit: Commit): Promise<void> {
  const { config, log } = ctx;
  const held = journal.state.source;
  const since = await changesSince(diffs, held, commit);
  await journal.update((s) => {
    if (!s.source.attempted.includes(commit)) s.source.attempted.push(commit);
  });
  let paths: Change[] | 'all' = 'all';
  if (since !== undefined) {
    // paths an interrupted checkout may have touched, with no entry: looked up in the commit
    const named = new Set(since.changes.map((c) => c.path));
    paths = [...since.changes, ...[...new Set(since.extraPaths)].filter((p) => !named.has(p)).map((p) => ({ status: '?', path: p }))];
  }
  const started = performance.now();
  // A source whose last commit cannot be traced (a force push, then gc) is rebuilt as the commit
  // exactly: files only that lost commit had would otherwise go to every target. One that never
  // held a deploy keeps what its owner put there.
  const removeOthers = paths === 'all' && held.commit !== null ? { keep: [...config.protect, ...config.exclude] } : undefined;
  await checkout(config.repo, config.source, commit, paths, path.join(config.stateDir, 'checkout.index'), log, removeOthers);
  log.info({ commit, paths: paths === 'all' ? 'all' : paths.length, durationMs: Math.round(performance.now() - started) }, 'source checked out');
  await journal.update((s) => {
    s.source = { commit, attempted: [] };
  });
}

async function syncTarget(ctx: Context, journal: Journal, diffs: DiffCache, target: Target, commit: Commit, options: SyncOptions): Promise<TargetOutcome> {
  const { config, log } = ctx;
  const before = journal.target(target.name);
  const plan = await planFor(diffs, config.source, before, commit, options);
  const from = before?.commit ?? null;
  const base = { name: target.name, from, mode: plan.kind, sent: 0, deleted: 0, bytes: 0, durationMs: 0, attempts: 0 } as const;
  log.info({ target: target.name, plan: plan.kind, from, paths: plan.kind === 'paths' ? plan.paths.length : undefined }, 'target plan');

  if (plan.kind === 'none') {
    if (!options.dryRun && before?.status !== 'ok') await recordSuccess(journal, target.name, commit);
    return { ...base, status: 'ok' };
  }
  if (options.planOnly) {
    if (plan.kind === 'full') return { ...base, status: 'ok', items: [`a full pass (${plan.why}): every file, and deletion of whatever the commit lacks`] };
    const deletions = new Set(plan.deletions);
    const directories = new Set(plan.paths.map((p) => p.slice(0, Math.max(0, p.lastIndexOf('/')))));
    const named = plan.paths.filter((p) => deletions.has(p) || !directories.has(p));
    const items = named.map((p) => (deletions.has(p) ? `*deleting   ${p}` : `>f          ${p}`));
    return { ...base, status: 'ok', sent: plan.changed, deleted: plan.deleted, items };
  }
  const alreadyAttempted = before?.attempted.includes(commit) === true;
  if (!options.dryRun) {
    // Recorded before rsync starts: if fanout dies mid-transfer, the next run knows which paths
    // may be half-sent on this target.
    await journal.update((s) => {
      const t = (s.targets[target.name] ??= { commit: null, at: null, status: 'failed', attempted: [] });
      if (!t.attempted.includes(commit)) t.attempted.push(commit);
      if (options.outsidePaths.length > 0) t.dirty = [...new Set([...(t.dirty ?? []), ...options.outsidePaths])];
    });
  }

  const totals = { sent: 0, deleted: 0, bytes: 0, durationMs: 0, attempts: 0, items: [] as string[] };
  let failure: string | undefined;
  // true until an rsync gets past the daemon's greeting: then files may have moved
  let untouched = true;
  const passes = plan.kind === 'paths' ? rsyncPasses(plan) : [undefined];
  for (const files of passes) {
    for (let attempt = 1; ; attempt += 1) {
      totals.attempts += 1;
      const result: RsyncOutcome = await runRsync({
        config,
        target,
        plan,
        files,
        dryRun: options.dryRun,
        log,
        rsyncPath: config.rsync.path,
        maxDelete: options.maxDelete,
        keepItems: options.dryRun,
        onProgress: (counts) => {
          ctx.reporter.progress(target.name, totals.sent + totals.deleted + counts.sent + counts.deleted);
        },
      });
      totals.durationMs += result.durationMs;
      untouched &&= result.untouched;
      if (result.ok || !result.retryable || attempt > config.retries) {
        // a retried pass re-sends what an attempt cut short already sent: count the last attempt only
        totals.sent += result.sent;
        totals.deleted += result.deleted;
        totals.bytes += result.bytes;
        totals.items.push(...result.items);
        if (!result.ok) failure = result.error ?? 'rsync failed';
        break;
      }
      const delay = config.retryDelay * 1000 * 2 ** (attempt - 1);
      log.warn({ target: target.name, attempt, error: result.error, retryInMs: delay }, 'rsync failed; retrying');
      await sleep(delay);
    }
    if (failure !== undefined) break;
  }

  const ok = failure === undefined;
  const { items, ...counts } = totals;
  const outcome: TargetOutcome = { ...base, ...counts, status: ok ? 'ok' : 'failed' };
  if (!ok) outcome.error = failure;
  if (options.dryRun) outcome.items = items;
  if (!options.dryRun) {
    if (ok) await recordSuccess(journal, target.name, commit);
    else
      await journal.update((s) => {
        const t = s.targets[target.name];
        if (t) {
          t.status = 'failed';
          t.error = outcome.error;
          // every attempt was refused before anything moved: none can have left half-written files
          if (untouched && !alreadyAttempted) t.attempted = t.attempted.filter((c) => c !== commit);
        }
      });
  }
  log[ok ? 'info' : 'error']({ target: target.name, ...outcome }, 'target done');
  return outcome;
}

function recordSuccess(journal: Journal, name: string, commit: Commit): Promise<void> {
  return journal.update((s) => {
    s.targets[name] = { commit, at: new Date().toISOString(), status: 'ok', attempted: [] };
  });
}

/** `git diff` between two commits, asked once per deploy however many targets need it. */
type DiffCache = ((from: Commit, to: Commit) => Promise<Change[]>) & { repo: string };

function diffCache(repo: string): DiffCache {
  const cache = new Map<string, Promise<Change[]>>();
  const diff = (from: Commit, to: Commit): Promise<Change[]> => {
    if (from === to) return Promise.resolve([]);
    const key = `${from}..${to}`;
    let changes = cache.get(key);
    if (changes === undefined) {
      changes = changedPaths(repo, from, to);
      cache.set(key, changes);
    }
    return changes;
  };
  return Object.assign(diff, { repo });
}

/**
 * What differs between a tree's holding and `commit`: the diff from the commit it last received
 * completely, plus every path an incomplete later attempt may have touched. Undefined when that
 * cannot be known (nothing recorded, too many attempts, or a commit gone from the repository after
 * a force push and gc): then only rewriting everything is safe.
 */
async function changesSince(diffs: DiffCache, held: Holding | undefined, commit: Commit): Promise<{ changes: Change[]; extraPaths: string[] } | undefined> {
  if (held?.commit == null || held.attempted.length > MAX_ATTEMPTED) return undefined;
  const base = held.commit;
  try {
    const changes = await diffs(base, commit);
    const extraPaths: string[] = [];
    for (const attempted of held.attempted) for (const change of await diffs(base, attempted)) extraPaths.push(change.path);
    return { changes, extraPaths };
  } catch {
    // git cannot diff from a commit it no longer has: fall back to rewriting everything
    return undefined;
  }
}

async function planFor(
  diffs: DiffCache,
  source: string,
  state: TargetState | undefined,
  commit: Commit,
  options: Pick<SyncOptions, 'full' | 'checksum' | 'outsidePaths'>,
): Promise<SyncPlan> {
  if (options.full) return planSync({ changes: undefined, full: true, checksum: options.checksum });
  // rsync killed mid-transfer leaves its temp files (".name.XXXXXX") beside the real ones, under
  // names no diff lists: only a full --delete pass finds them.
  if (state !== undefined && state.attempted.length > 0) return planSync({ changes: undefined, why: 'an earlier transfer to it was cut short' });
  const since = await changesSince(diffs, state, commit);
  if (since === undefined) return planSync({ changes: undefined, why: state?.commit == null ? 'no deploy recorded for this target' : 'its state cannot be traced' });
  const dirty = [...(state?.dirty ?? []), ...options.outsidePaths];
  if (dirty.length > MAX_DIRTY) return planSync({ changes: undefined, why: 'too many paths changed outside git' });
  const changes = since.changes;
  const extraPaths = [...since.extraPaths, ...dirty];
  const notDirectories = new Set<string>();
  const missing = new Set<string>();
  for (const candidate of candidatePaths(changes, extraPaths)) {
    const kind = entryKind(path.join(source, candidate));
    if (kind !== 'directory') notDirectories.add(candidate);
    if (kind === 'missing') missing.add(candidate);
  }
  return planSync({ changes, extraPaths, notDirectories, missing });
}

function entryKind(file: string): 'directory' | 'other' | 'missing' {
  try {
    return fs.lstatSync(file).isDirectory() ? 'directory' : 'other';
  } catch {
    return 'missing';
  }
}

export function whoAmI(): string {
  try {
    return os.userInfo().username;
  } catch {
    return `uid ${process.getuid?.() ?? '?'}`;
  }
}
