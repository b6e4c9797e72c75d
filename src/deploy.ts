import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pMap from 'p-map';
import type { Config, Target } from './config.js';
import { FanoutError } from './errors.js';
import { branchTip, changedPaths, checkout, commitInfo, hasCommit, resolveCommit, type Change, type Commit } from './git.js';
import { Journal, type HistoryEntry, type Reason, type TargetOutcome, type TargetState } from './journal.js';
import { acquireLock } from './lock.js';
import type { Logger } from './log.js';
import { candidatePaths, planSync, type SyncPlan } from './plan.js';
import type { Reporter } from './report.js';
import { runRsync, type RsyncOutcome } from './rsync.js';

export interface Context {
  config: Config;
  log: Logger;
  reporter: Reporter;
}

export interface DeployRequest {
  /** a revision to deploy; undefined means the branch tip as it stands once the lock is held */
  rev: string | undefined;
  reason: Reason;
  startedBy: string;
}

export interface DeployOptions {
  dryRun: boolean;
  /** target names to deploy to; all when empty */
  targets: readonly string[];
  /** a full rsync --delete pass instead of the changed paths */
  full: boolean;
}

/** Past this many incomplete attempts a target is simply given a full pass. */
const MAX_ATTEMPTED = 20;

/**
 * The engine behind push, deploy, rollback and sync: lock, check out, then for each target in
 * parallel plan from what THAT target has and run rsync, recording each outcome as it lands.
 */
export async function deploy(ctx: Context, request: DeployRequest, options: DeployOptions): Promise<HistoryEntry> {
  const { config, log } = ctx;
  const targets = selectTargets(config, options.targets);
  const lock = await acquireLock(config.stateDir, config.lockTimeout, `${request.reason} by ${request.startedBy}`, log, (holder) => {
    ctx.reporter.note(`waiting for the deploy in progress (${holder})`);
  });
  try {
    const commit = request.rev === undefined ? await tipOf(config) : await resolveCommit(config.repo, request.rev);
    const info = await commitInfo(config.repo, commit);
    const journal = Journal.open(config.stateDir);
    if (journal.warning !== undefined) {
      log.warn(journal.warning);
      ctx.reporter.note(`warning: ${journal.warning}`);
    }
    const id = journal.state.nextDeployId;
    const startedAt = new Date();
    log.info({ deployId: id, commit, reason: request.reason, startedBy: request.startedBy, dryRun: options.dryRun }, 'deploy started');

    const sourceReady = journal.state.sourceCommit === commit;
    if (!options.dryRun && !sourceReady) {
      await checkout(config.repo, config.source, path.join(config.stateDir, 'source.index'), journal.state.sourceCommit ?? undefined, commit);
      await journal.update((s) => {
        s.sourceCommit = commit;
      });
    }
    assertSourceNotEmpty(config.source);

    const outcomes = await pMap(
      targets,
      async (target) => {
        const outcome = await syncTarget(ctx, journal, target, commit, {
          dryRun: options.dryRun,
          full: options.full,
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

async function tipOf(config: Config): Promise<Commit> {
  const tip = await branchTip(config.repo, config.branch);
  if (tip === undefined) throw new FanoutError(`branch "${config.branch}" has no commits in ${config.repo} yet: push to it first`);
  return tip;
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

/** Invariant 6: --delete never runs from an empty or missing source. */
function assertSourceNotEmpty(source: string): void {
  let entries: string[];
  try {
    entries = fs.readdirSync(source);
  } catch {
    throw new FanoutError(`source ${source} does not exist; refusing to sync (it would empty every target)`);
  }
  if (entries.length === 0) throw new FanoutError(`source ${source} is empty; refusing to sync (it would empty every target)`);
}

interface SyncOptions {
  dryRun: boolean;
  full: boolean;
  planOnly: boolean;
}

async function syncTarget(ctx: Context, journal: Journal, target: Target, commit: Commit, options: SyncOptions): Promise<TargetOutcome> {
  const { config, log } = ctx;
  const before = journal.target(target.name);
  const plan = await planFor(config.repo, config.source, before, commit, options.full);
  const from = before?.commit ?? null;
  const base = { name: target.name, from, mode: plan.kind, sent: 0, deleted: 0, durationMs: 0, attempts: 0 } as const;
  log.info({ target: target.name, plan: plan.kind, from, paths: plan.kind === 'paths' ? plan.paths.length : undefined }, 'target plan');

  if (plan.kind === 'none') {
    if (!options.dryRun && before?.status !== 'ok') await recordSuccess(journal, target.name, commit);
    return { ...base, status: 'ok' };
  }
  if (options.planOnly) {
    return { ...base, status: 'ok', sent: plan.kind === 'paths' ? plan.changed : 0, deleted: plan.kind === 'paths' ? plan.deleted : 0 };
  }
  if (!options.dryRun) {
    // Recorded before rsync starts: if fanout dies mid-transfer, the next run knows which paths
    // may be half-sent on this target.
    await journal.update((s) => {
      const t = (s.targets[target.name] ??= { commit: null, at: null, status: 'failed', attempted: [] });
      if (!t.attempted.includes(commit)) t.attempted.push(commit);
    });
  }

  let attempts = 0;
  let durationMs = 0;
  let result: RsyncOutcome;
  for (;;) {
    attempts += 1;
    result = await runRsync({ config, target, plan, dryRun: options.dryRun, log, rsyncPath: config.rsync.path });
    durationMs += result.durationMs;
    if (result.ok || !result.retryable || attempts > config.retries) break;
    const delay = config.retryDelay * 1000 * 2 ** (attempts - 1);
    log.warn({ target: target.name, attempt: attempts, error: result.error, retryInMs: delay }, 'rsync failed; retrying');
    await sleep(delay);
  }

  const outcome: TargetOutcome = { ...base, sent: result.sent, deleted: result.deleted, durationMs, attempts, status: result.ok ? 'ok' : 'failed' };
  if (!result.ok) outcome.error = result.error ?? 'rsync failed';
  if (!options.dryRun) {
    if (result.ok) await recordSuccess(journal, target.name, commit);
    else
      await journal.update((s) => {
        const t = s.targets[target.name];
        if (t) {
          t.status = 'failed';
          t.error = outcome.error;
        }
      });
  }
  log[result.ok ? 'info' : 'error']({ target: target.name, ...outcome }, 'target done');
  return outcome;
}

function recordSuccess(journal: Journal, name: string, commit: Commit): Promise<void> {
  return journal.update((s) => {
    s.targets[name] = { commit, at: new Date().toISOString(), status: 'ok', attempted: [] };
  });
}

/**
 * Gather the facts for one target's plan: the diff from the commit it has, plus every path that an
 * incomplete earlier attempt may have touched. Anything unknown (no commit, a commit the repository
 * no longer has after a force push and gc) means a full pass.
 */
async function planFor(repo: string, source: string, state: TargetState | undefined, commit: Commit, full: boolean): Promise<SyncPlan> {
  if (full) return planSync({ changes: undefined, full: true });
  if (state?.commit == null) return planSync({ changes: undefined, why: 'no deploy recorded for this target' });
  if (state.attempted.length > MAX_ATTEMPTED) return planSync({ changes: undefined, why: 'too many incomplete attempts' });
  const known = [state.commit, ...state.attempted];
  for (const c of known) {
    if (!(await hasCommit(repo, c))) return planSync({ changes: undefined, why: `commit ${c.slice(0, 10)} is gone from the repository` });
  }
  const changes: Change[] = state.commit === commit ? [] : await changedPaths(repo, state.commit, commit);
  const extraPaths: string[] = [];
  for (const attempted of state.attempted) {
    if (attempted === state.commit) continue;
    for (const change of await changedPaths(repo, state.commit, attempted)) extraPaths.push(change.path);
  }
  const notDirectories = new Set(candidatePaths(changes, extraPaths).filter((p) => !isDirectory(path.join(source, p))));
  return planSync({ changes, extraPaths, notDirectories });
}

function isDirectory(file: string): boolean {
  try {
    return fs.lstatSync(file).isDirectory();
  } catch {
    return false;
  }
}

export function whoAmI(): string {
  try {
    return os.userInfo().username;
  } catch {
    return `uid ${process.getuid?.() ?? '?'}`;
  }
}
