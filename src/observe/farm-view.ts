import type { Config, Target } from '../base/config.js';
import { describeDest } from '../base/dest.js';
import type { HistoryEntry, Reason, TargetOutcome } from '../engine/journal.js';
import { deployOutcome, type DeployOutcome } from '../engine/state.js';
import { autoRollbackLine, rejectedLine, type TargetHealth, type TargetStatus } from './status.js';
import type { StatusFacts } from './status-facts.js';

/**
 * The farm page as plain data (pure): what `fanout status --json` and `fanout history --json` say,
 * picked for a person who reads one page. Nothing from the config but the stage's name, the
 * branch and each target's name and dest as describeDest writes it: a password file, build.env,
 * hooks and check URLs never reach the view.
 */

export interface SlotView {
  slot: string;
  commit: string | null;
  subject: string | null;
  state: NonNullable<TargetStatus['slots']>[number]['state'];
  live: boolean;
}

export interface HostView {
  name: string;
  /** where it lives, never with a credential (describeDest) */
  dest: string;
  state: TargetHealth;
  commit: string | null;
  subject: string | null;
  /** when it last received a deploy completely */
  since: string | null;
  /** why it is failed */
  error?: string;
  /** layout: slots: every slot and what it holds */
  slots?: SlotView[];
}

export interface DeployTargetView {
  name: string;
  status: TargetOutcome['status'];
  durationMs: number;
  error?: string;
  slot?: string;
  /** layout: slots: `current` was switched to `slot` */
  switched: boolean;
}

export interface DeployView {
  id: number;
  reason: Reason;
  startedBy: string;
  user?: string;
  message?: string;
  commit: string;
  subject: string;
  startedAt: string;
  durationMs: number;
  outcome: DeployOutcome | 'refused';
  dryRun: boolean;
  /** refused before anything was touched: the line its deployer saw */
  refused?: string;
  /** failed before any target */
  error?: string;
  targets: DeployTargetView[];
  rollout?: HistoryEntry['rollout'];
  switch?: HistoryEntry['switch'];
  /** with build: the source commit it was built from */
  builtFrom?: string;
}

/** A deploy freeze: who froze the stage, why, since when. */
export interface LockView {
  by: string;
  reason: string;
  since: string;
}

export interface CurrentView {
  commit: string;
  subject: string | null;
  deployId: number;
  at: string;
  startedBy?: string;
  user?: string;
  message?: string;
  builtFrom?: string;
}

export interface StageView {
  name: string;
  /** undefined: a stage only promoted into */
  branch: string | undefined;
  /** what `fanout status` exits 0 on */
  ok: boolean;
  current: CurrentView | null;
  tip: { commit: string; subject: string | null; deployed: boolean; problem?: string } | null;
  /** lines status prints above its table: an automatic rollback, a rejected release, a failed checkout */
  alerts: string[];
  watch?: { line: string; failing: boolean };
  hosts: HostView[];
  /** the last deploys and refusals, newest first */
  deploys: DeployView[];
  lock?: LockView;
}

export interface FarmPageView {
  generatedAt: string;
  stages: StageView[];
}

/** How many of the last deploys the page lists and charts. */
export const PAGE_DEPLOYS = 20;

/** One stage (a farm: the config's metrics.farm for now) from what status reads and the history, oldest first. */
export function stageView(input: { name: string; branch: string | undefined; targets: readonly Pick<Target, 'name' | 'dest'>[]; facts: StatusFacts; history: readonly HistoryEntry[] }): StageView {
  const { facts } = input;
  const { status, subjects } = facts;
  const subject = (commit: string | null): string | null => (commit === null ? null : (subjects.get(commit) ?? null));
  const dests = new Map(input.targets.map((t) => [t.name, describeDest(t.dest)]));
  return {
    name: input.name,
    branch: input.branch,
    ok: status.ok,
    current: currentView(facts, subject),
    tip: status.branchTip === null ? null : { commit: status.branchTip, subject: subject(status.branchTip), deployed: status.tip.deployed, ...(status.tip.why === undefined ? {} : { problem: status.tip.why }) },
    alerts: alerts(facts),
    ...(status.watch === undefined ? {} : { watch: status.watch }),
    hosts: status.targets.map((t) => hostView(t, dests.get(t.name) ?? '', subject)),
    deploys: input.history.slice(-PAGE_DEPLOYS).reverse().map(deployView),
    ...(facts.lock === undefined ? {} : { lock: facts.lock }),
  };
}

function currentView(facts: StatusFacts, subject: (commit: string | null) => string | null): CurrentView | null {
  const { current } = facts.status;
  if (current === null) return null;
  const by = facts.currentBy;
  return {
    commit: current.commit,
    subject: subject(current.commit),
    deployId: current.deployId,
    at: current.at,
    ...(by === undefined ? {} : { startedBy: by.startedBy }),
    ...(by?.user === undefined ? {} : { user: by.user }),
    ...(by?.message === undefined ? {} : { message: by.message }),
    ...(facts.currentBuild === undefined ? {} : { builtFrom: facts.currentBuild.source }),
  };
}

/** What status says above its table, in its words: an automatic rollback, else a rejected release; a failed checkout. */
function alerts(facts: StatusFacts): string[] {
  const lines: string[] = [];
  if (facts.autoRollback !== undefined) lines.push(autoRollbackLine(facts.autoRollback));
  else if (facts.state.rejected !== undefined) lines.push(rejectedLine(facts.state.rejected));
  if (facts.status.sourceError !== undefined) lines.push(`the last deploy could not check its commit out into the source directory: ${facts.status.sourceError}`);
  return lines;
}

function hostView(t: TargetStatus, dest: string, subject: (commit: string | null) => string | null): HostView {
  return {
    name: t.name,
    dest,
    state: t.health,
    commit: t.commit,
    subject: subject(t.commit),
    since: t.at,
    ...(t.error === undefined ? {} : { error: t.error }),
    ...(t.slots === undefined ? {} : { slots: t.slots.map((s) => ({ slot: s.slot, commit: s.commit, subject: subject(s.commit), state: s.state, live: s.slot === t.live })) }),
  };
}

function deployView(e: HistoryEntry): DeployView {
  return {
    id: e.id,
    reason: e.reason,
    startedBy: e.startedBy,
    ...(e.user === undefined ? {} : { user: e.user }),
    ...(e.message === undefined ? {} : { message: e.message }),
    commit: e.commit,
    subject: e.subject,
    startedAt: e.startedAt,
    durationMs: tookMs(e),
    outcome: e.refused === undefined ? deployOutcome(e) : 'refused',
    dryRun: e.dryRun === true,
    ...(e.refused === undefined ? {} : { refused: e.refused }),
    ...(e.error === undefined ? {} : { error: e.error }),
    targets: e.targets.map((t) => ({ name: t.name, status: t.status, durationMs: t.durationMs, ...(t.error === undefined ? {} : { error: t.error }), ...(t.slot === undefined ? {} : { slot: t.slot }), switched: t.switchedAt !== undefined })),
    ...(e.rollout === undefined ? {} : { rollout: e.rollout }),
    ...(e.switch === undefined ? {} : { switch: e.switch }),
    ...(e.build === undefined ? {} : { builtFrom: e.build.source }),
  };
}

/** How long a deploy took; 0 when its times are not times (a journal written by hand). */
function tookMs(e: HistoryEntry): number {
  const took = Date.parse(e.finishedAt) - Date.parse(e.startedAt);
  return Number.isFinite(took) ? Math.max(0, took) : 0;
}

/** What the config keeps secret: its password files' paths and build.env's values. */
export function configSecrets(config: Pick<Config, 'targets' | 'build'>): string[] {
  return [...config.targets.flatMap((t) => (t.passwordFile === undefined ? [] : [t.passwordFile])), ...Object.values(config.build?.env ?? {})];
}

/**
 * Every string of a view with each secret replaced, and a URL's user and password too: a journal's
 * error is a stranger's text (a build's output, a check's answer), and what the config keeps secret
 * (its password files' paths, build.env's values) must not reach a page others read.
 */
export function withoutSecrets<T>(value: T, secrets: readonly string[]): T {
  // a value this short also matches in words and commit ids; none is a secret worth the name
  const hidden = [...new Set(secrets)].filter((s) => s.length >= 6).sort((a, b) => b.length - a.length);
  const scrub = (text: string): string => hidden.reduce((t, s) => t.replaceAll(s, '[hidden]'), text).replace(/(\b[a-z][a-z0-9+.-]*:\/\/)[^\s/@:]*:[^\s/@]*@/gi, '$1[hidden]@');
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return scrub(v);
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, inner]) => [k, walk(inner)]));
    return v;
  };
  return walk(value) as T;
}
