import type { Config, Layout, Target } from '../base/config.js';
import { changesAttributes, GITLINK, type Change, type Commit, type EntryKind } from '../base/git.js';
import type { SlotState, SourceHolding, State, TargetState, TreeState } from '../engine/journal.js';
import { shortPath, type RelPath } from '../base/paths.js';
import { candidatePaths, parentOf, planSync, withAncestors, type SyncPlan } from '../engine/sync-plan.js';
import { holdsCompletely, sourceHolds, upToDate } from '../engine/state.js';
import type { SlotStep, TargetPlan } from '../engine/target-plan.js';
import type { RsyncPass } from '../transport/rsync-pass.js';

/**
 * What the engine decides, as data. The engine (deploy.ts) reads the facts under the lock, asks
 * planDeploy for the whole deploy (the source's step, each target's pass, every refusal, whether
 * it coalesces), then applies it; the dry-run answers rsync gives for the riskiest passes go
 * through decideTransfers. A dry run renders the same plan and the same decisions, so it cannot
 * disagree with the real run. Nothing here does I/O.
 */

/** What was asked of this deploy, beyond which commit. */
export interface DeployAsk {
  /** a full pass for every target (`--full`, watch's start) */
  full: boolean;
  /** with `full`: compare contents, else size and time */
  checksum: boolean;
  /** paths changed in the source outside git (watch): named to every target besides its own plan */
  outsidePaths: readonly RelPath[];
  /** deploy a commit that has no files (it empties every target) */
  allowEmpty: boolean;
  /** the bound on deletions per target, if any */
  maxDelete: number | undefined;
  /** do nothing when the source and every target already hold the commit */
  coalesce: boolean;
  /** send a release a check failed on to more hosts all the same */
  force: boolean;
}

/** Everything the engine read under the lock, as plain data. */
export interface DeployFacts {
  commit: Commit;
  state: State;
  /** the targets this deploy is for, by name */
  targets: readonly string[];
  /** what differs between the source's holding and the commit (ignored when it holds the commit) */
  sourceSince: Since | undefined;
  targetSince: ReadonlyMap<string, Since | undefined>;
  /** the first name in any diff or tree read that fanout refuses (invariant 8) */
  unsafeName: { path: RelPath; problem: string } | undefined;
  /** whether the commit's tree has no entry at all (read when the source does not hold it) */
  emptyTree: boolean;
  /** what the commit's tree has at each directory above a path a diff writes (see directoriesAbove) */
  treeKinds: ReadonlyMap<RelPath, EntryKind>;
  /** what each path a target's plan asks about is in the source once it holds the commit (see pathsToLookUp) */
  kinds: ReadonlyMap<RelPath, EntryKind>;
  /** the time the facts were read (ms since the epoch): a slot's grace is measured from it */
  now: number;
}

/** What planning needs of the config: the keep rules, and each target's layout. */
export type PlanConfig = Pick<Config, 'protect' | 'exclude'> & {
  targets: readonly Pick<Target, 'name' | 'layout'>[];
  revisionFile?: string | undefined;
  build?: unknown;
  watch?: { path?: string | undefined };
};

export type DeployPlan =
  /** the source and every target already hold the commit: the deploy that took them there, and nothing to do */
  | { kind: 'coalesced'; deployId: number }
  /** one line saying why nothing may be touched; exit 1 for a release known to be bad, else 2 (bad input) */
  | { kind: 'refused'; why: string; exitCode: 1 | 2 }
  | {
      kind: 'deploy';
      commit: Commit;
      /** how the source reaches the commit; undefined when it holds it */
      source: SourceStep | undefined;
      targets: TargetPlan[];
      maxDelete: number | undefined;
      /** whether the source may be empty (invariant 6 otherwise) */
      allowEmpty: boolean;
      /** a full pass comparing contents asked for (`sync --full`): a repair, after which the slots it did not write are not vouched for */
      repair: boolean;
      /** paths changed outside git that each target is sent: recorded as dirty until it has them */
      outsidePaths: readonly RelPath[];
    };

/** The whole deploy, decided from the facts: no I/O. */
export function planDeploy(ask: DeployAsk, facts: DeployFacts, config: PlanConfig): DeployPlan {
  const { commit, state } = facts;
  const sourceReady = sourceHolds(state, commit);
  const current = state.current;
  const layouts = layoutsOf(config);
  const steps = new Map(facts.targets.map((name) => [name, slotStepFor(ask, facts, layouts.get(name), name)]));
  const holds = (name: string): boolean => {
    const step = steps.get(name);
    return step === undefined ? upToDate(state.targets[name], commit) : step.stage === undefined && step.switchTo === undefined && step.repair === undefined;
  };
  if (ask.coalesce && current?.commit === commit && sourceReady && facts.targets.every(holds)) {
    return { kind: 'coalesced', deployId: current.deployId };
  }
  const rejected = ask.force ? undefined : rejectedRefusal(state, commit);
  if (rejected !== undefined) return { kind: 'refused', why: rejected, exitCode: 1 };
  const refused = treeRefusal(facts, sourceReady, ask.allowEmpty) ?? sharedRefusal(facts, layouts) ?? revisionRefusal(facts, config.revisionFile) ?? mirroredRefusal(facts, mirroredPath(config));
  if (refused !== undefined) return { kind: 'refused', why: refused, exitCode: 2 };
  const targets = facts.targets.map((name): TargetPlan => {
    const step = steps.get(name);
    const written = writtenTree(state.targets[name], step);
    const sync = step !== undefined && step.stage === undefined ? ({ kind: 'none' } as const) : planTarget(targetFacts(ask, facts, name, step), facts.kinds);
    if ('lookUp' in sync) throw new Error('planTarget asked for kinds it was given');
    return {
      name,
      from: state.targets[name]?.commit ?? null,
      sync,
      preflight: preflightPass(sync, config, ask.maxDelete),
      alreadyAttempted: written?.attempted.includes(commit) === true,
      upToDate: holds(name),
      slots: step,
    };
  });
  return { kind: 'deploy', commit, source: sourceReady ? undefined : sourceStep(state.source, facts.sourceSince), targets, maxDelete: ask.maxDelete, allowEmpty: ask.allowEmpty, repair: ask.full && ask.checksum, outsidePaths: ask.outsidePaths };
}

/**
 * A release a check failed on goes to no more hosts: not by `sync`, which status suggests for the
 * hosts it left behind, nor by a redeploy, unless the operator says so (--force).
 */
function rejectedRefusal(state: State, commit: Commit): string | undefined {
  const rejected = state.rejected;
  if (rejected?.commit !== commit) return undefined;
  return `release ${commit.slice(0, 10)} failed its check on ${rejected.target} in deploy #${rejected.deployId} (${rejected.detail}); fanout sends it to no more hosts: push a fix, or fanout rollback; --force sends it anyway`;
}

/**
 * Why the commit's tree must not be deployed, or undefined: a name fanout refuses (invariant 8),
 * an entry below something that is not a directory (a crafted tree with the same name twice), or
 * no file at all when the source must be brought to it.
 */
function treeRefusal(facts: DeployFacts, sourceReady: boolean, allowEmpty: boolean): string | undefined {
  const { commit } = facts;
  const short = commit.slice(0, 10);
  if (facts.unsafeName !== undefined) return `commit ${short} names ${facts.unsafeName.problem}: "${shortPath(facts.unsafeName.path)}"; refusing to deploy it, nothing was touched`;
  const written = namedChanges(facts).filter((c) => c.entry !== undefined);
  const above = new Set(directoriesAbove(written));
  const belowFile = written.find((c) => above.has(c.path))?.path ?? [...above].find((dir) => facts.treeKinds.get(dir) !== 'directory');
  if (belowFile !== undefined) return `commit ${short} has entries below "${shortPath(belowFile)}", which is not a directory in it (a tree with the same name twice); refusing to deploy it, nothing was touched`;
  if (!sourceReady && facts.emptyTree && !allowEmpty) return `commit ${short} has no files; refusing to deploy it (it would empty every target); nothing was touched. --allow-empty if that is intended`;
  return undefined;
}

/** Every change a diff to this deploy's commit names, the source's and each target's (not those of earlier attempts: their entries are another commit's). */
function namedChanges(facts: Pick<DeployFacts, 'sourceSince' | 'targetSince'>): Change[] {
  const named = (since: Since | undefined): Change[] => (since?.kind === 'named' ? since.changes : []);
  return [...named(facts.sourceSince), ...[...facts.targetSince.values()].flatMap(named)];
}

/**
 * The directories above what the diffs write, which the engine looks up in the commit's tree: a
 * crafted tree can hold the same name twice (a symlink `d` and a directory `d/`; git's fsck
 * refuses it, but receive.fsckObjects may be off), and a path written below a non-directory
 * would then go through it.
 */
export function directoriesAbove(changes: readonly Change[]): RelPath[] {
  const above = new Set<RelPath>();
  for (const change of changes) if (change.entry !== undefined) for (let dir = parentOf(change.path); dir !== '.' && !above.has(dir); dir = parentOf(dir)) above.add(dir);
  return [...above];
}

/** The directories to look up for directoriesAbove, for every diff the facts hold. */
export function treePathsToLookUp(facts: Pick<DeployFacts, 'sourceSince' | 'targetSince'>): RelPath[] {
  return directoriesAbove(namedChanges(facts));
}

/**
 * Whether every name in the commit's tree must be checked (invariant 8): when the source is
 * rewritten whole, no diff lists the names it writes.
 */
export function needsTreeScan(sourceSince: Since | undefined): boolean {
  return sourceSince?.kind !== 'named' || changesAttributes(sourceSince.changes);
}

/** The facts of the tree a target's deploy writes: the target itself in place, or the slot it stages. */
function targetFacts(ask: DeployAsk, facts: Pick<DeployFacts, 'state' | 'targetSince'>, name: string, step: SlotStep | undefined): TargetFacts {
  return { state: writtenTree(facts.state.targets[name], step), since: facts.targetSince.get(name), full: ask.full, checksum: ask.checksum, outsidePaths: ask.outsidePaths };
}

/** The paths whose kind in the source (once it holds the commit) the targets' plans need. */
export function pathsToLookUp(ask: DeployAsk, facts: Pick<DeployFacts, 'state' | 'targets' | 'targetSince' | 'commit' | 'now'>, config: PlanConfig): RelPath[] {
  const paths = new Set<RelPath>();
  const layouts = layoutsOf(config);
  for (const name of facts.targets) {
    const step = slotStepFor(ask, facts, layouts.get(name), name);
    if (step !== undefined && step.stage === undefined) continue;
    const first = planTarget(targetFacts(ask, facts, name, step));
    if ('lookUp' in first) for (const p of first.lookUp) paths.add(p);
  }
  return [...paths];
}

function layoutsOf(config: PlanConfig): Map<string, Extract<Layout, { kind: 'slots' }>> {
  const layouts = new Map<string, Extract<Layout, { kind: 'slots' }>>();
  for (const t of config.targets) if (t.layout.kind === 'slots') layouts.set(t.name, t.layout);
  return layouts;
}

/** The slot step for a target with layout: slots (undefined for one in place). */
function slotStepFor(ask: DeployAsk, facts: Pick<DeployFacts, 'state' | 'commit' | 'now'>, layout: Extract<Layout, { kind: 'slots' }> | undefined, name: string): SlotStep | undefined {
  if (layout === undefined) return undefined;
  return chooseSlot(facts.state.targets[name], facts.commit, layout, facts.now, ask.full || ask.outsidePaths.length > 0);
}

/** The tree a target's deploy writes (its slot, with layout: slots), whose diff to the commit the engine reads. */
export function treeToWrite(ask: DeployAsk, facts: Pick<DeployFacts, 'state' | 'commit' | 'now'>, config: PlanConfig, name: string): TreeState | undefined {
  return writtenTree(facts.state.targets[name], slotStepFor(ask, facts, layoutsOf(config).get(name), name));
}

/** The names of a target's slots: 1 .. N. */
export function slotNames(count: number): string[] {
  return Array.from({ length: count }, (_, i) => String(i + 1));
}

/**
 * Which slot a deploy writes and which one goes live. A slot that holds the commit completely is
 * switched to without sending a file (a rollback is a switch). Otherwise the commit is staged into
 * a slot that is not live (nor possibly live, after a switch cut short) and was not live in the
 * last `graceMs`, preferring one whose grace is over, then one whose holding is known (its diff is
 * sent, not the whole tree), then the most recent. `mustWrite`: a full pass or edits from outside
 * git, which no slot holds yet.
 */
export function chooseSlot(target: TargetState | undefined, commit: Commit, layout: Extract<Layout, { kind: 'slots' }>, now: number, mustWrite: boolean): SlotStep {
  const names = slotNames(layout.count);
  const slots = target?.slots ?? {};
  const live = target?.live ?? null;
  const switching = target?.switching;
  const holds = (name: string | null | undefined): name is string => !mustWrite && name != null && names.includes(name) && holdsCompletely(slots[name], commit);
  if (switching === undefined && holds(live)) return { stage: undefined, switchTo: undefined, repair: undefined };
  // after a switch cut short `current` points to one of the two: either may be re-pinned, both are complete
  const holder = [switching, live, ...names].find(holds);
  if (holder !== undefined) return { stage: undefined, switchTo: holder, repair: undefined };
  const busy = new Set([live, switching].filter((n): n is string => n != null));
  let repair: string | undefined;
  let candidates = names.filter((n) => !busy.has(n));
  let retiredAt = (name: string): number => Date.parse(slots[name]?.retiredAt ?? '') || 0;
  if (candidates.length === 0 && switching !== undefined) {
    // two slots, both possibly live: pin `current` to the one being switched to, then the other is free after its grace
    repair = switching;
    candidates = names.filter((n) => n !== switching);
    retiredAt = () => now;
  }
  const graceOver = (name: string): number => retiredAt(name) + layout.graceMs;
  const known = (name: string): boolean => slots[name]?.commit != null && slots[name]?.status === 'ok';
  const [slot = names[0] ?? '1'] = [...candidates].sort(
    (a, b) =>
      Number(graceOver(a) > now) - Number(graceOver(b) > now) ||
      (graceOver(a) > now ? graceOver(a) - graceOver(b) : 0) ||
      Number(known(b)) - Number(known(a)) ||
      (Date.parse(slots[b]?.at ?? '') || 0) - (Date.parse(slots[a]?.at ?? '') || 0),
  );
  const held = slots[slot];
  return {
    stage: {
      slot,
      notBefore: graceOver(slot) > now ? graceOver(slot) : undefined,
      seedFrom: seedFor(target, slot),
      copyFrom: live !== null && live !== slot && holdsWhole(slots[live]) ? `../${live}/` : undefined,
      link: !sameList(held?.linked ?? [], layout.shared),
    },
    switchTo: slot,
    repair,
  };
}

/**
 * For a slot whose holding is unknown (a full pass): the tree on the same host its unchanged files
 * are copied from instead of sent (rsync --copy-dest, relative to the slot): the files in place
 * for a target moving to slots, else its live slot, else any complete one.
 */
function seedFor(target: TargetState | undefined, slot: string): string | undefined {
  const slots = target?.slots;
  if (slots === undefined) return target?.commit != null ? '../../' : undefined;
  if (slots[slot]?.commit != null && slots[slot]?.status === 'ok') return undefined;
  const from = [target?.live, ...Object.keys(slots)].find((name) => name != null && name !== slot && holdsWhole(slots[name]));
  return from == null ? undefined : `../${from}/`;
}

function holdsWhole(slot: SlotState | undefined): boolean {
  return slot !== undefined && slot.status === 'ok' && slot.commit !== null && slot.attempted.length === 0;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  const sorted = [...b].sort();
  return a.length === b.length && [...a].sort().every((x, i) => x === sorted[i]);
}

/**
 * The tree a deploy writes, as the journal knows it: the target in place (unknown if it last held
 * slots: its own directory was not kept), or the slot staged (unknown when its shared links must
 * change: a full pass then puts it right).
 */
export function writtenTree(target: TargetState | undefined, step: SlotStep | undefined): TreeState | undefined {
  if (step === undefined) return target?.slots === undefined ? target : undefined;
  if (step.stage === undefined) return undefined;
  const slot = target?.slots?.[step.stage.slot];
  return step.stage.link && slot !== undefined ? { ...slot, commit: null } : slot;
}

/** The paths no commit may contain: every slotted target's shared paths, the revision file, and with a build the directory watch mirrors. */
export function sharedPaths(config: PlanConfig): RelPath[] {
  const mirrored = mirroredPath(config);
  return [...new Set([...[...layoutsOf(config).values()].flatMap((l) => l.shared), ...[config.revisionFile, mirrored].filter((p) => p !== undefined)])];
}

/**
 * With a build, the directory `fanout watch` mirrors as it is (watch.path): edits made there on
 * the update server, in a source that otherwise holds built output. No build may write it, or the
 * next checkout would overwrite them.
 */
export function mirroredPath(config: Pick<PlanConfig, 'build' | 'watch'>): RelPath | undefined {
  return config.build === undefined ? undefined : config.watch?.path;
}

function mirroredRefusal(facts: DeployFacts, mirrored: RelPath | undefined): string | undefined {
  const taken = mirrored === undefined ? undefined : takenBy(facts, mirrored);
  if (taken === undefined) return undefined;
  return `build ${facts.commit.slice(0, 10)} contains ${taken}, the directory fanout watch mirrors as it is (watch.path: in the config); keep it out of the build's output or name another directory; nothing was touched`;
}

function revisionRefusal(facts: DeployFacts, revisionFile: string | undefined): string | undefined {
  if (revisionFile === undefined || (facts.treeKinds.get(revisionFile) ?? 'missing') === 'missing') return undefined;
  return `commit ${facts.commit.slice(0, 10)} contains "${shortPath(revisionFile)}", the revision file fanout writes (revisionFile: in the config); remove it from the commit or name another file; nothing was touched`;
}

/** The paths whose kinds in the commit's tree the refusals read: the reserved paths and the directories above them. */
export function reservedPathsToLookUp(config: PlanConfig): RelPath[] {
  return withAncestors(sharedPaths(config));
}

/**
 * How the commit takes a path fanout keeps for itself or the operator, if it does: it holds the
 * path, or a file or symlink where a directory above it must be (the checkout would replace that
 * directory and everything in it). Said as "contains ...".
 */
function takenBy(facts: DeployFacts, reserved: RelPath): string | undefined {
  if ((facts.treeKinds.get(reserved) ?? 'missing') !== 'missing') return `"${shortPath(reserved)}"`;
  for (let above = parentOf(reserved); above !== '.'; above = parentOf(above)) {
    if ((facts.treeKinds.get(above) ?? 'missing') === 'other') return `"${shortPath(above)}" (not a directory) where "${shortPath(reserved)}" needs one`;
  }
  return undefined;
}

function sharedRefusal(facts: DeployFacts, layouts: ReadonlyMap<string, Extract<Layout, { kind: 'slots' }>>): string | undefined {
  const shared = [...new Set([...layouts.values()].flatMap((l) => l.shared))];
  for (const reserved of shared) {
    const taken = takenBy(facts, reserved);
    if (taken !== undefined) return `commit ${facts.commit.slice(0, 10)} contains ${taken}, a shared path (shared: in the config): its files live in shared/ on each target, never in a release; remove it from the commit or from shared; nothing was touched`;
  }
  return undefined;
}

/**
 * Where the kind of a path the plans ask about is read: from the commit's tree where the source
 * step writes it (the path, a directory above it or anything below it), else from the source as
 * it stands, which keeps edits made outside git (watch) and holds the commit elsewhere.
 */
export function kindsFromTree(step: SourceStep | undefined, paths: readonly RelPath[]): { tree: RelPath[]; source: RelPath[] } {
  if (step === undefined) return { tree: [], source: [...paths] };
  if (step.kind !== 'paths') return { tree: [...paths], source: [] };
  const written = new Set(step.writes.map((c) => c.path));
  const aboveWritten = new Set(withAncestors(written));
  const touched = (p: RelPath): boolean => {
    if (aboveWritten.has(p)) return true;
    for (let dir = parentOf(p); dir !== '.'; dir = parentOf(dir)) if (written.has(dir)) return true;
    return false;
  };
  return { tree: paths.filter(touched), source: paths.filter((p) => !touched(p)) };
}

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
  // a large change to a tree known to be whole keeps --delay-updates: it has no leftovers to sweep
  if (since.kind === 'too many') return planSync({ changes: undefined, full: since.attributes, checksum: since.attributes, sweep: false, why: `more than ${MAX_CHANGES} paths changed` });
  // files the diff does not name may check out differently now: compare every file's contents
  if (changesAttributes(since.changes)) return planSync({ changes: undefined, full: true, checksum: true, sweep: false, why: 'a .gitattributes file changed' });
  const dirty = [...(state?.dirty ?? []), ...facts.outsidePaths];
  // named paths cost memory however they came: past the same bound as a diff, a full pass
  if (dirty.length > MAX_CHANGES) return planSync({ changes: undefined, why: 'too many paths changed outside git' });
  const extraPaths = [...since.extra.map((c) => c.path), ...dirty];
  const candidates = candidatePaths(since.changes, extraPaths);
  if (kinds === undefined) return { lookUp: candidates };
  // a submodule is an empty directory in the source, as every checkout leaves it; git cannot say
  // so of one whose commit it lacks, but the diff names its mode
  const gitlinks = new Set(since.changes.filter((c) => c.entry?.mode === GITLINK).map((c) => c.path));
  const notDirectories = new Set<RelPath>();
  const missing = new Set<RelPath>();
  for (const candidate of candidates) {
    const kind = gitlinks.has(candidate) ? 'directory' : (kinds.get(candidate) ?? 'missing');
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

/**
 * What the deploy's passes read from the source, each path with the directories above it: every
 * directory of the commit when any target gets a full pass. Checked for symlinks git does not have
 * before any of them runs (see foreignSymlink).
 */
export function sourcePathsRead(plan: Extract<DeployPlan, { kind: 'deploy' }>): RelPath[] | 'all' {
  const read = new Set<RelPath>();
  for (const { sync } of plan.targets) {
    if (sync.kind === 'full') return 'all';
    if (sync.kind === 'paths') for (const p of [...sync.sends, ...sync.prunes]) if (p !== '.') read.add(p);
  }
  return withAncestors(read);
}

/** What rsync's dry run of a target's preflight pass said. */
export interface PreflightAnswer {
  /** files and directories the pass would delete, as rsync counts them for --max-delete */
  deletions: number;
  /** a directory that had to become a file and could not (protected content in it) */
  blockedBy: string | undefined;
  /** the protected names rsync reported (a local target's --debug=FILTER1) */
  protectedNames: readonly string[];
  /** the dry run itself failed (the target unreachable, say) */
  failure: { error: string; attempts: number; durationMs: number } | undefined;
}

/** What happens to each target once rsync has answered the preflights. */
export interface TransferDecision {
  /** the whole deploy is refused, nothing touched (maxDelete) */
  refusal: string | undefined;
  /** targets that fail before any transfer, and why */
  failures: ReadonlyMap<string, { error: string; attempts: number; durationMs: number }>;
}

export function decideTransfers(
  plan: Extract<DeployPlan, { kind: 'deploy' }>,
  answers: ReadonlyMap<string, PreflightAnswer>,
  config: Pick<Config, 'protect' | 'exclude'>,
  dryRun: boolean,
): TransferDecision {
  const failures = new Map<string, { error: string; attempts: number; durationMs: number }>();
  for (const [name, answer] of answers) {
    if (answer.blockedBy !== undefined) failures.set(name, { error: refusedReplacement(answer.blockedBy, answer.protectedNames, config), attempts: 1, durationMs: 0 });
    else if (answer.failure !== undefined) failures.set(name, answer.failure);
  }
  const counted = new Map([...answers].map(([name, a]) => [name, a.deletions]));
  const plans = new Map(plan.targets.map((t) => [t.name, t.sync]));
  const refusal = plan.maxDelete === undefined ? undefined : deletionRefusal(plan.targets.map((t) => t.name), plans, counted, plan.maxDelete, dryRun);
  return { refusal, failures };
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
