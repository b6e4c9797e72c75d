import path from 'node:path';
import type { Config } from '../base/config.js';
import { sourceOfBuild } from '../build/build-commits.js';
import { errorMessage } from '../base/errors.js';
import { run } from '../base/exec.js';
import { branchTip, gitEnv, type Commit } from '../base/git.js';
import { Journal, isDeploy, readHistory, readRecentHistory, writeAtomically, type HistoryEntry, type State } from '../engine/journal.js';
import type { Logger } from '../base/log.js';
import { countDeploys, deployOutcome, isLagging, upToDate } from '../engine/state.js';
import { readFreeze, type Freeze } from '../engine/freeze.js';

/**
 * Metrics for Prometheus, in its text exposition format: a node_exporter textfile
 * (`metrics.textfile`), rewritten after every deploy, and `fanout status --prometheus`. Built from
 * the journal: what each target holds and how its last deploy went, and the farm's counters.
 * Times are exported as Unix timestamps, never as "seconds since": a textfile is read long after
 * it is written, and `time() - fanout_target_last_success_timestamp_seconds` is the age.
 */

/** What the metrics are made of, read from the journal and git. */
export interface MetricsFacts {
  /** the farm label every sample carries: several farms' textfiles on one server never collide */
  farm: string;
  /** with stages: the stage label every sample carries beside farm */
  stage?: string;
  state: State;
  /** the configured targets, in the config's order */
  targets: readonly string[];
  /** the latest history entries, oldest first */
  recent: readonly HistoryEntry[];
  /** per target, the commits its deploy is behind the current one, when known */
  behind: ReadonlyMap<string, number>;
  /** deploys by "reason outcome", from the journal's counters */
  deploys: Readonly<Record<string, number>>;
  /** the branch, and whether its tip (with build: its build) is the current deploy; absent while it has no commits */
  branch?: { name: string; tipDeployed: boolean };
  /** the operator's deploy lock, when taken */
  lock?: Freeze;
}

const REASONS = ['push', 'manual', 'rollback', 'sync', 'watch', 'auto-rollback', 'promote'] as const;
const OUTCOMES = ['ok', 'partial', 'failed'] as const;
const TARGET_OUTCOMES = ['ok', 'failed'] as const;

const LAGGING_HELP = 'layout: slots: whether the farm switched to the current deploy without the target (1): it failed, switch: let the others go, and it serves its old release until caught up (fanout sync).';

/** A label value as the format wants it: backslash, double quote and newline escaped. */
function label(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function labels(pairs: Record<string, string>): string {
  return `{${Object.entries(pairs)
    .map(([k, v]) => `${k}="${label(v)}"`)
    .join(',')}}`;
}

function seconds(iso: string | null | undefined): number | undefined {
  if (iso == null) return undefined;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? undefined : ms / 1000;
}

/** The metrics as text (pure): each family once, with its HELP and TYPE, then its samples. */
export function prometheusText(facts: MetricsFacts): string {
  const out: string[] = [];
  const family: Family = (name, type, help, samples) => {
    const present = samples.filter((s): s is [Record<string, string>, number] => s[1] !== undefined);
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [pairs, value] of present) out.push(`${name}${labels({ farm: facts.farm, ...(facts.stage === undefined ? {} : { stage: facts.stage }), ...pairs })} ${value}`);
  };
  const { state } = facts;
  const current = state.current;
  const lastOf = new Map<string, HistoryEntry['targets'][number]>();
  for (const entry of facts.recent) for (const outcome of entry.targets) lastOf.set(outcome.name, outcome);
  const perTarget = (value: (name: string) => number | undefined): [Record<string, string>, number | undefined][] => facts.targets.map((name) => [{ target: name }, value(name)]);

  family(
    'fanout_target_info',
    'gauge',
    'The commit each target serves (its last complete deploy), as the commit label.',
    facts.targets.map((name) => {
      const commit = state.targets[name]?.commit;
      return [{ target: name, commit: commit ?? '' }, commit == null ? undefined : 1];
    }),
  );
  family('fanout_target_up_to_date', 'gauge', 'Whether the target holds the current deploy completely (1) or not (0).', perTarget((name) => (current === null ? undefined : upToDate(state.targets[name], current.commit) ? 1 : 0)));
  family('fanout_target_lagging', 'gauge', LAGGING_HELP, perTarget((name) => (current === null ? undefined : isLagging(state.targets[name], current.commit) ? 1 : 0)));
  family('fanout_target_last_success_timestamp_seconds', 'gauge', 'When the target last received a deploy completely, in Unix time.', perTarget((name) => seconds(state.targets[name]?.at)));
  family(
    'fanout_target_last_outcome',
    'gauge',
    "The outcome of the target's last deploy: 1 for the one it had, 0 for the others.",
    facts.targets.flatMap((name) => {
      const status = state.targets[name]?.status;
      return TARGET_OUTCOMES.map((outcome): [Record<string, string>, number | undefined] => [{ target: name, outcome }, status === undefined ? undefined : status === outcome ? 1 : 0]);
    }),
  );
  family('fanout_target_commits_behind', 'gauge', 'Commits between what the target serves and the current deploy (0: it has it, or a later one).', perTarget((name) => facts.behind.get(name)));
  family('fanout_target_last_deploy_sent_bytes', 'gauge', "Bytes of the files sent to the target by its last deploy.", perTarget((name) => lastOf.get(name)?.bytes));
  family('fanout_target_last_deploy_sent_files', 'gauge', 'Files sent to the target by its last deploy.', perTarget((name) => lastOf.get(name)?.sent));
  family('fanout_target_last_deploy_deleted_files', 'gauge', 'Files deleted on the target by its last deploy.', perTarget((name) => lastOf.get(name)?.deleted));
  family('fanout_target_last_deploy_duration_seconds', 'gauge', "How long the target's part of its last deploy took.", perTarget((name) => { const ms = lastOf.get(name)?.durationMs; return ms === undefined ? undefined : ms / 1000; }));

  family(
    'fanout_deploys_total',
    'counter',
    'Deploys by reason and outcome (ok: every target; partial: some failed; failed: none, or a check stopped it).',
    REASONS.flatMap((reason) => OUTCOMES.map((outcome): [Record<string, string>, number] => [{ reason, outcome }, facts.deploys[`${reason} ${outcome}`] ?? 0])),
  );
  family('fanout_auto_rollbacks_total', 'counter', 'Releases a failed check rolled back (rollout.onFailure: rollback).', [[{}, OUTCOMES.reduce((sum, outcome) => sum + (facts.deploys[`auto-rollback ${outcome}`] ?? 0), 0)]]);
  const lastSwitch = [...facts.recent].reverse().find((e) => e.switch !== undefined)?.switch;
  family('fanout_last_switch_skew_seconds', 'gauge', 'layout: slots: the time between the first and the last target switching current in the last switch.', [[{}, lastSwitch === undefined ? undefined : lastSwitch.skewMs / 1000]]);
  family(
    'fanout_branch_tip_deployed',
    'gauge',
    "Whether the branch's tip (with build: its build) is the current deploy (1) or not (0): a push that failed or was refused leaves 0.",
    facts.branch === undefined ? [] : [[{ branch: facts.branch.name }, facts.branch.tipDeployed ? 1 : 0]],
  );
  // a refusal since is no deploy: the last deploy is the last one that ran
  lastDeployFamilies(family, facts.recent.findLast(isDeploy));
  lockFamilies(family, facts.lock);
  return `${out.join('\n')}\n`;
}

type Family = (name: string, type: 'gauge' | 'counter', help: string, samples: [Record<string, string>, number | undefined][]) => void;

/** The last deploy: when it finished, who made it and whether it reached every target. */
function lastDeployFamilies(family: Family, last: HistoryEntry | undefined): void {
  family('fanout_last_deploy_timestamp_seconds', 'gauge', 'When the last deploy finished, in Unix time.', [[{}, seconds(last?.finishedAt)]]);
  // one sample, its labels those of the last deploy: the person is a label here and never on a
  // counter, where every new name would be a series kept for good
  family(
    'fanout_last_deploy_info',
    'gauge',
    'The last deploy: its reason, the person behind it (an ssh key\'s name, the user behind sudo, or the account; empty before fanout recorded it) and its commit, as labels.',
    last === undefined ? [] : [[{ reason: last.reason, user: last.user ?? '', commit: last.commit }, 1]],
  );
  family('fanout_last_deploy_success', 'gauge', 'Whether the last deploy reached every target (1) or not (0).', [[{}, last === undefined ? undefined : deployOutcome(last) === 'ok' ? 1 : 0]]);
}

/** The operator's deploy lock (fanout lock): whether it is taken, and since when; who and why are on the farm page and in status. */
function lockFamilies(family: Family, lock: Freeze | undefined): void {
  family('fanout_deploy_locked', 'gauge', 'Whether the deploy lock (fanout lock) is taken (1): every push and deploy is refused until fanout unlock.', [[{}, lock === undefined ? 0 : 1]]);
  family('fanout_deploy_locked_since_timestamp_seconds', 'gauge', 'When the deploy lock was taken, in Unix time.', [[{}, seconds(lock?.since)]]);
}

/** The history read back for the metrics: enough for the last deploy of every target that deploys at all. */
const RECENT_BYTES = 1024 * 1024;

/** Read what the metrics need: the journal's state and recent history, and how far behind each target is (git). */
export async function metricsFacts(config: Pick<Config, 'stateDir' | 'repo' | 'branch' | 'targets' | 'metrics' | 'stage'>, state: State, log: Logger): Promise<MetricsFacts> {
  const recent = readRecentHistory(config.stateDir, RECENT_BYTES);
  const targets = config.targets.map((t) => t.name);
  const sourceOf = sourcesOf(config.repo, recent, log);
  const tip = await branchTip(config.repo, config.branch);
  const current = state.current?.commit;
  const branch = tip === undefined || config.branch === undefined ? undefined : { name: config.branch, tipDeployed: current !== undefined && (tip === current || tip === (await sourceOf(current))) };
  return {
    farm: config.metrics.farm,
    ...(config.stage === undefined ? {} : { stage: config.stage }),
    state,
    targets,
    recent,
    behind: await commitsBehind(config.repo, state, targets, sourceOf, log),
    deploys: state.deploys ?? countDeploys(readHistory(config.stateDir)),
    ...(branch === undefined ? {} : { branch }),
    ...lockOf(config.stateDir, log),
  };
}

/** The deploy lock as the metrics show it; one whose file cannot be read shows as taken, as deploys read it. */
function lockOf(stateDir: string, log: Logger): { lock?: Freeze } {
  try {
    const lock = readFreeze(stateDir);
    return lock === undefined ? {} : { lock };
  } catch (error) {
    log.warn({ error: errorMessage(error) }, 'the deploy lock cannot be read');
    return { lock: { by: 'unknown', reason: errorMessage(error), since: '' } };
  }
}

/**
 * The source commit of a deployed commit: itself, or for a build, the commit it was built from
 * (from the history, or for a build older than the recent history, from its own message).
 */
function sourcesOf(repo: string, recent: readonly HistoryEntry[], log: Logger): (commit: Commit) => Promise<Commit> {
  const known = new Map<string, Commit>();
  for (const entry of recent) if (entry.build !== undefined) known.set(entry.commit, entry.build.source);
  return async (commit) => {
    const found = known.get(commit);
    if (found !== undefined) return found;
    const source = (await sourceOfBuild(repo, commit, log)) ?? commit;
    known.set(commit, source);
    return source;
  };
}

/**
 * Commits from what each target serves to the current deploy. A build commit has no parents of
 * its own: its source commit is counted instead. One `git rev-list` per distinct commit the
 * targets hold.
 */
async function commitsBehind(repo: string, state: State, targets: readonly string[], sourceOf: (commit: Commit) => Promise<Commit>, log: Logger): Promise<Map<string, number>> {
  const behind = new Map<string, number>();
  const current = state.current?.commit;
  if (current === undefined) return behind;
  const counted = new Map<string, number | undefined>();
  for (const name of targets) {
    const held = state.targets[name]?.commit;
    if (held == null) continue;
    if (!counted.has(held)) {
      const [from, to] = [await sourceOf(held), await sourceOf(current)];
      const result = from === to ? { exitCode: 0, stdout: '0' } : await run('git', ['rev-list', '--count', `${from}..${to}`], { env: gitEnv(repo), log });
      counted.set(held, result.exitCode === 0 ? Number(result.stdout.trim()) : undefined);
    }
    const count = counted.get(held);
    if (count !== undefined) behind.set(name, count);
  }
  return behind;
}

/**
 * Rewrite the textfile, if one is configured: atomically (node_exporter never reads half a file),
 * readable by others (node_exporter runs as its own user). A failure to write it is a warning:
 * the deploy it follows has happened either way.
 */
export async function exportMetrics(config: Config, log: Logger): Promise<string | undefined> {
  const file = config.metrics.textfile;
  if (file === undefined) return undefined;
  try {
    // the collector's directory is the operator's: never made here (it would be fanout's own, mode 700)
    writeAtomically(file, prometheusText(await metricsFacts(config, Journal.open(config.stateDir).state, log)), { mode: 0o644, makeDirectory: false });
    return undefined;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const dir = path.dirname(file);
    const fix = code === 'EACCES' || code === 'EPERM' ? `; make ${dir} writable by the user fanout runs as` : code === 'ENOENT' ? `; create ${dir}, the textfile collector's directory` : '';
    const why = `metrics.textfile: cannot write ${file} (${errorMessage(error)})${fix}`;
    log.warn(why);
    return why;
  }
}
