import type { Config } from './config.js';
import { changesAttributes, type Change, type Commit, type EntryKind } from './git.js';
import type { SourceHolding, TargetState } from './journal.js';
import type { RelPath } from './paths.js';
import { candidatePaths, planSync, type RsyncPass, type SyncPlan } from './plan.js';

/**
 * What the engine decides, as data: how the source reaches the commit, which pass each target
 * gets, which of those passes rsync is asked about first, and what refuses the deploy. The engine
 * (deploy.ts) reads the facts these take and applies what they return; nothing here does I/O.
 */

/**
 * Past this many changed paths a tree is not named path by path: the source switches with git's
 * own two-tree checkout and each target gets a full pass (size and time). Naming them costs the
 * deploy about 2.4 KB of memory a path over the base (measured with three daemon targets, npm run
 * bench -- --only bigchange: 127 MB at 19,000 paths, 136 MB at 29,000; 90 MB at 21,000 and 98 MB
 * at 1,000,000 past this bound); this keeps a push under 130 MB, whatever the size of the change.
 */
export const MAX_CHANGES = 20_000;

/** What differs between a tree's holding and a commit: the diff, and the diffs of attempts since; or too many to name. */
export type Since = { kind: 'named'; changes: Change[]; extra: Change[] } | { kind: 'too many'; attributes: boolean };

/** How the source reaches the commit. */
export type SourceStep =
  /** git's own two-tree switch from the commit it holds: too many paths to name */
  | { kind: 'switch'; from: Commit }
  /** write every file; with `removeOthers`, also remove what the commit lacks (protect and exclude kept) */
  | { kind: 'all'; removeOthers: boolean }
  /** write (and remove) just these paths */
  | { kind: 'paths'; writes: Change[] };

/**
 * A source whose last commit cannot be traced (a force push, then gc; a lost journal) is rebuilt
 * as the commit exactly: files only that lost commit had would otherwise go to every target. One
 * that never held a deploy keeps what its owner put there. A .gitattributes change alters how
 * files the diff does not name check out (eol, filters): every file is written again.
 */
export function sourceStep(held: SourceHolding, since: Since | undefined): SourceStep {
  if (since?.kind === 'too many' && !since.attributes && held.commit !== null && held.attempted.length === 0) return { kind: 'switch', from: held.commit };
  if (since?.kind !== 'named' || changesAttributes(since.changes)) return { kind: 'all', removeOthers: held.commit !== null || held.untraceable === true };
  return { kind: 'paths', writes: sourceWrites(since) };
}

/**
 * What a paths checkout writes: the diff to the commit, and every path an interrupted checkout may
 * have touched, each put back as the commit has it. The commit differs from the held one only at
 * the diff's paths, so elsewhere it has what the held commit had: the older side of the
 * interrupted attempt's own diff.
 */
export function sourceWrites(since: Extract<Since, { kind: 'named' }>): Change[] {
  const writes = new Map(since.changes.map((c) => [c.path, c]));
  for (const touched of since.extra) {
    if (!writes.has(touched.path)) writes.set(touched.path, { status: touched.before === undefined ? 'D' : 'M', path: touched.path, ...(touched.before === undefined ? {} : { entry: touched.before }) });
  }
  return [...writes.values()];
}

export interface TargetFacts {
  state: TargetState | undefined;
  since: Since | undefined;
  /** a full pass asked for (`--full`, watch's start) */
  full: boolean;
  checksum: boolean;
  /** paths changed outside git (watch) */
  outsidePaths: readonly RelPath[];
}

/**
 * The pass one target gets. A paths plan needs to know what the commit has at each path it names:
 * asked without `kinds`, it says which paths to look up; asked again with them, it plans.
 */
export function planTarget(facts: TargetFacts, kinds?: ReadonlyMap<RelPath, EntryKind>): SyncPlan | { lookUp: RelPath[] } {
  const { state, since } = facts;
  if (facts.full) return planSync({ changes: undefined, full: true, checksum: facts.checksum });
  // rsync killed mid-transfer leaves its temp files (".name.XXXXXX") beside the real ones, under
  // names no diff lists: only a full --delete pass finds them.
  if (state !== undefined && state.attempted.length > 0) return planSync({ changes: undefined, why: 'an earlier transfer to it was cut short' });
  if (since === undefined) return planSync({ changes: undefined, why: state?.commit == null ? 'no deploy recorded for this target' : 'its state cannot be traced' });
  if (since.kind === 'too many') return planSync({ changes: undefined, full: since.attributes, checksum: since.attributes, why: `more than ${MAX_CHANGES} paths changed` });
  // files the diff does not name may check out differently now: compare every file's contents
  if (changesAttributes(since.changes)) return planSync({ changes: undefined, full: true, checksum: true, why: 'a .gitattributes file changed' });
  const dirty = [...(state?.dirty ?? []), ...facts.outsidePaths];
  // named paths cost memory however they came: past the same bound as a diff, a full pass
  if (dirty.length > MAX_CHANGES) return planSync({ changes: undefined, why: 'too many paths changed outside git' });
  const extraPaths = [...since.extra.map((c) => c.path), ...dirty];
  const candidates = candidatePaths(since.changes, extraPaths);
  if (kinds === undefined) return { lookUp: candidates };
  const notDirectories = new Set<RelPath>();
  const missing = new Set<RelPath>();
  for (const candidate of candidates) {
    const kind = kinds.get(candidate) ?? 'missing';
    if (kind !== 'directory') notDirectories.add(candidate);
    if (kind === 'missing') missing.add(candidate);
  }
  return planSync({ changes: since.changes, extraPaths, notDirectories, missing });
}

/**
 * The pass rsync is asked about first, as a dry run, or undefined: a full pass when maxDelete
 * bounds it (its deletions are known only to rsync) or when protect or exclude rules exist (a
 * directory holding protected content that must become a file makes rsync delete the rest of it
 * before giving up); a paths pass that replaces a directory, for the second reason. Contents are
 * not compared: neither answer depends on them.
 */
export function preflightPass(plan: SyncPlan, config: Pick<Config, 'protect' | 'exclude'>, maxDelete: number | undefined): RsyncPass | undefined {
  const keeps = config.protect.length + config.exclude.length > 0;
  if (plan.kind === 'full' && (maxDelete !== undefined || keeps)) return { kind: 'full' };
  if (plan.kind === 'paths' && keeps && plan.replacedDirectories.length > 0) return { kind: 'send', paths: plan.sends };
  return undefined;
}

/** The line a target fails with when a directory holding protected content must become a file. */
export function refusedReplacement(directory: string, protectedNames: readonly string[], config: Pick<Config, 'protect' | 'exclude'>): string {
  const inside = protectedNames.filter((n) => n === directory || n.startsWith(`${directory}/`));
  const what = inside.length > 0 ? inside.join(', ') : `protected or excluded content (${[...config.protect.map((p) => `protect: ${p}`), ...config.exclude.map((p) => `exclude: ${p}`)].join(', ')})`;
  return `${directory} must become a file, but on this target it is a directory holding ${what}; nothing was changed on this target. Move that content, or change the commit`;
}

/**
 * A deploy that would delete more than `maxDelete` files or directories on any target is refused
 * before anything is sent: a commit that lost half the site is far likelier a mistake than a
 * release. Counted as rsync counts for --max-delete: from the plan for a paths pass, from rsync's
 * own dry run for a full pass. A dry run says what the real run would refuse. Undefined: no refusal.
 */
export function deletionRefusal(
  targets: readonly string[],
  plans: ReadonlyMap<string, SyncPlan>,
  dryRunDeletions: ReadonlyMap<string, number>,
  maxDelete: number,
  dryRun: boolean,
): string | undefined {
  for (const name of targets) {
    const plan = plans.get(name);
    const deletions = dryRunDeletions.get(name) ?? (plan?.kind === 'paths' ? plan.deleted : 0);
    if (deletions > maxDelete) {
      const why = `the deploy would delete ${deletions} files or directories on ${name}, more than maxDelete (${maxDelete})`;
      return dryRun
        ? `dry run: ${why}; the real run would refuse it. If that is intended: fanout deploy --max-delete ${deletions}`
        : `${why}; nothing was touched. If that is intended: fanout deploy --max-delete ${deletions}`;
    }
  }
  return undefined;
}
