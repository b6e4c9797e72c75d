import { describe, expect, it } from 'vitest';
import {
  MAX_CHANGES,
  chooseSlot,
  reservedPathsToLookUp,
  sharedPaths,
  writtenTree,
  decideTransfers,
  deletionRefusal,
  directoriesAbove,
  kindsFromTree,
  needsTreeScan,
  pathsToLookUp,
  planDeploy,
  planTarget,
  preflightPass,
  refusedReplacement,
  sourceStep,
  sourceWrites,
  treePathsToLookUp,
  type DeployAsk,
  type DeployFacts,
  type DeployPlan,
  type PlanConfig,
  type PreflightAnswer,
  type Since,
  type TargetFacts,
} from '../../../src/deploy/deploy-plan.js';
import type { Change, Commit, EntryKind } from '../../../src/base/git.js';
import type { SlotState, SourceHolding, State, TargetState } from '../../../src/engine/journal.js';
import type { SyncPlan } from '../../../src/engine/sync-plan.js';

const A = 'a'.repeat(40) as Commit;
const B = 'b'.repeat(40) as Commit;
const blob = 'e'.repeat(40);
const M = (p: string): Change => ({ status: 'M', path: p, entry: { mode: '100644', blob }, before: { mode: '100644', blob } });
const D = (p: string): Change => ({ status: 'D', path: p, before: { mode: '100644', blob } });
const named = (changes: Change[], extra: Change[] = []): Since => ({ kind: 'named', changes, extra });
const ok = (more: Partial<TargetState> = {}): TargetState => ({ commit: A, at: 't', status: 'ok', attempted: [], ...more });
const add = (p: string, mode = '100644'): Change => ({ status: 'A', path: p, entry: { mode, blob } });
const C = 'c'.repeat(40) as Commit;

/** A target's facts: at A, the diff to the commit given, no flags. */
function facts(more: Partial<TargetFacts> = {}): TargetFacts {
  return { state: ok(), since: named([M('index.html')]), full: false, checksum: true, outsidePaths: [], ...more };
}

/** Plan with the kinds every looked-up path has in the commit (default: a file). */
function plan(f: TargetFacts, kinds: Record<string, EntryKind> = {}): SyncPlan {
  const first = planTarget(f);
  if (!('lookUp' in first)) return first;
  const second = planTarget(f, new Map(first.lookUp.map((p) => [p, kinds[p] ?? (first.lookUp.some((q) => q.startsWith(`${p}/`)) ? 'directory' : 'other')])));
  if ('lookUp' in second) throw new Error('asked twice');
  return second;
}

describe('sourceStep: how the source reaches the commit', () => {
  it('writes just the changed paths when they are known', () => {
    expect(sourceStep({ commit: A, attempted: [] }, named([M('a')]))).toEqual({ kind: 'paths', writes: [M('a')] });
  });

  it("switches with git's own checkout past the bound, unless an attempt was cut short or .gitattributes changed", () => {
    expect(sourceStep({ commit: A, attempted: [] }, { kind: 'too many', attributes: false })).toEqual({ kind: 'switch', from: A });
    expect(sourceStep({ commit: A, attempted: [B] }, { kind: 'too many', attributes: false })).toEqual({ kind: 'all', removeOthers: true });
    expect(sourceStep({ commit: A, attempted: [] }, { kind: 'too many', attributes: true })).toEqual({ kind: 'all', removeOthers: true });
  });

  it('rewrites everything when the history is lost or .gitattributes changed; removes what the commit lacks unless the source never held a deploy', () => {
    expect(sourceStep({ commit: A, attempted: [] }, undefined)).toEqual({ kind: 'all', removeOthers: true });
    expect(sourceStep({ commit: null, attempted: [] }, undefined)).toEqual({ kind: 'all', removeOthers: false });
    expect(sourceStep({ commit: null, attempted: [], untraceable: true }, undefined)).toEqual({ kind: 'all', removeOthers: true });
    expect(sourceStep({ commit: A, attempted: [] }, named([M('.gitattributes')]))).toEqual({ kind: 'all', removeOthers: true });
    expect(sourceStep({ commit: A, attempted: [] }, named([M('docs/.gitattributes')])).kind).toBe('all');
  });

  it('puts back what an interrupted attempt touched, as the held commit had it', () => {
    const since: Since = { kind: 'named', changes: [M('a')], extra: [M('a'), M('tried.html'), { status: 'A', path: 'new-in-attempt.html', entry: { mode: '100644', blob } }] };
    expect(sourceWrites(since)).toEqual([
      M('a'),
      { status: 'M', path: 'tried.html', entry: { mode: '100644', blob } },
      { status: 'D', path: 'new-in-attempt.html' },
    ]);
  });
});

describe('planTarget: the pass each target gets', () => {
  it('a full pass when asked, after a cut-short transfer, with no history, past the bound, on a .gitattributes change', () => {
    expect(plan(facts({ full: true }))).toEqual({ kind: 'full', why: 'full sync requested', checksum: true, sweep: true });
    expect(plan(facts({ state: ok({ attempted: [B] }) }))).toMatchObject({ kind: 'full', why: 'an earlier transfer to it was cut short', sweep: true });
    expect(plan(facts({ state: undefined, since: undefined }))).toMatchObject({ kind: 'full', why: 'no deploy recorded for this target' });
    expect(plan(facts({ since: undefined }))).toMatchObject({ kind: 'full', why: 'its state cannot be traced' });
    // a tree known to be whole keeps --delay-updates: no sweep
    expect(plan(facts({ since: { kind: 'too many', attributes: false } }))).toEqual({ kind: 'full', why: `more than ${MAX_CHANGES} paths changed`, sweep: false });
    expect(plan(facts({ since: { kind: 'too many', attributes: true } }))).toMatchObject({ kind: 'full', checksum: true, sweep: false });
    expect(plan(facts({ since: named([M('.gitattributes')]) }))).toMatchObject({ kind: 'full', checksum: true, sweep: false, why: 'a .gitattributes file changed' });
    const dirty = Array.from({ length: MAX_CHANGES + 1 }, (_, i) => `f${i}`);
    expect(plan(facts({ outsidePaths: dirty }))).toMatchObject({ kind: 'full', why: 'too many paths changed outside git' });
  });

  it('nothing when the tree is unchanged', () => {
    expect(plan(facts({ since: named([]) }))).toEqual({ kind: 'none' });
  });

  it('names the changed paths, the ones an attempt touched and the ones changed outside git, asking what the commit has at each', () => {
    const f = facts({ since: named([M('css/a.css'), D('old.html')], [M('tried.html')]), state: ok({ dirty: ['hot.html'] }), outsidePaths: ['new/page.html'] });
    const first = planTarget(f);
    expect(first).toEqual({ lookUp: ['css', 'css/a.css', 'hot.html', 'new', 'new/page.html', 'old.html', 'tried.html'] });
    expect(plan(f, { 'old.html': 'missing' })).toMatchObject({ kind: 'paths', sends: ['css', 'css/a.css', 'hot.html', 'new', 'new/page.html', 'tried.html'], removals: ['old.html'], prunes: ['.'], deleted: 1 });
  });

  it('a directory that becomes a file is a replaced directory (a dry run looks first when anything is protected)', () => {
    const f = facts({ since: named([D('media/a.html'), { status: 'A', path: 'media', entry: { mode: '100644', blob } }]) });
    expect(plan(f, { media: 'other', 'media/a.html': 'missing' })).toMatchObject({ kind: 'paths', replacedDirectories: ['media'] });
  });
});

describe('preflightPass: what rsync is asked about first', () => {
  const full: SyncPlan = { kind: 'full', why: 'x', sweep: true };
  const replacing: SyncPlan = { kind: 'paths', sends: ['media'], removals: [], prunes: [], changed: 1, deleted: 0, replacedDirectories: ['media'] };
  const plain: SyncPlan = { ...replacing, replacedDirectories: [] };
  const none = { protect: [], exclude: [], targets: [] };
  const keeps = { protect: ['uploads/'], exclude: [], targets: [] };

  it('a full pass under maxDelete or keep rules; a paths pass replacing a directory under keep rules; nothing else', () => {
    expect(preflightPass(full, none, undefined)).toBeUndefined();
    expect(preflightPass(full, none, 10)).toEqual({ kind: 'full' });
    expect(preflightPass(full, keeps, undefined)).toEqual({ kind: 'full' });
    expect(preflightPass(replacing, keeps, undefined)).toEqual({ kind: 'send', paths: ['media'] });
    expect(preflightPass(replacing, none, 10)).toBeUndefined();
    expect(preflightPass(plain, keeps, 10)).toBeUndefined();
    expect(preflightPass({ kind: 'none' }, keeps, 10)).toBeUndefined();
  });

  it('the line a refused replacement fails with: the protected paths rsync named, else the rules', () => {
    expect(refusedReplacement('media', ['media/uploads', 'other/uploads'], keeps)).toMatch(/^media must become a file, but on this target it is a directory holding media\/uploads; nothing was changed/);
    expect(refusedReplacement('media', [], { protect: ['uploads/'], exclude: ['*.swp'] })).toMatch(/holding protected or excluded content \(protect: uploads\/, exclude: \*\.swp\)/);
  });
});

describe('deletionRefusal: maxDelete, counted as rsync counts', () => {
  const paths = (deleted: number): SyncPlan => ({ kind: 'paths', sends: [], removals: ['x'], prunes: ['.'], changed: 0, deleted, replacedDirectories: [] });

  it('from the plan for a paths pass, from the dry run for a full pass; the first target over the bound is named', () => {
    const plans = new Map<string, SyncPlan>([
      ['web1', paths(3)],
      ['web2', { kind: 'full', why: 'x', sweep: true }],
    ]);
    expect(deletionRefusal(['web1', 'web2'], plans, new Map([['web2', 3]]), 3, false)).toBeUndefined();
    expect(deletionRefusal(['web1', 'web2'], plans, new Map([['web2', 4]]), 3, false)).toBe(
      'the deploy would delete 4 files or directories on web2, more than maxDelete (3); nothing was touched. If that is intended: fanout deploy --max-delete 4',
    );
    expect(deletionRefusal(['web1'], new Map([['web1', paths(5)]]), new Map(), 3, true)).toMatch(/^dry run: the deploy would delete 5 .*; the real run would refuse it/);
    // a full pass that was not dry-run counts nothing: nothing is known of it
    expect(deletionRefusal(['web2'], plans, new Map(), 0, false)).toBeUndefined();
  });
});

/** What was asked: a plain push unless `more` says otherwise. */
const ask = (more: Partial<DeployAsk> = {}): DeployAsk => ({ full: false, checksum: true, outsidePaths: [], allowEmpty: false, maxDelete: undefined, coalesce: false, force: false, ...more });
const NOW = Date.parse('2026-11-25T12:00:00Z');
const KEEP_NOTHING: Keep = { protect: [], exclude: [], targets: [] };
type Keep = PlanConfig;

interface FarmShape {
  /** each target's state (default: web1, web2, web3 all ok at A) */
  targets?: Record<string, TargetState | undefined>;
  source?: SourceHolding;
  current?: State['current'];
  /** the commit deployed (default B) */
  commit?: Commit;
  /** a target's (or the source's, under "source") diff, when not the default: `diff` from A, nothing from the commit itself, unknown otherwise */
  since?: Record<string, Since | undefined>;
  /** the kind of a path in the source once it holds the commit (default: a directory when a looked-up path is below it, else a file) */
  kinds?: Record<string, EntryKind>;
  /** the commit's tree above what it writes (default: directories) */
  treeKinds?: Record<string, EntryKind>;
  emptyTree?: boolean;
  unsafeName?: DeployFacts['unsafeName'];
}

/**
 * A farm's facts as the engine would read them: the source and web1..web3 at A, deploying B,
 * whose diff from A is `diff`. A fake of the journal and of git's answers, in plain data.
 */
function farm(diff: Change[], shape: FarmShape = {}, request: DeployAsk = ask()): DeployFacts {
  const commit = shape.commit ?? B;
  const targetStates = shape.targets ?? { web1: ok(), web2: ok(), web3: ok() };
  const state: State = {
    version: 1,
    nextDeployId: 7,
    current: shape.current === undefined ? { commit: A, deployId: 6, at: 't' } : shape.current,
    source: shape.source ?? { commit: A, attempted: [] },
    targets: Object.fromEntries(Object.entries(targetStates).filter((e): e is [string, TargetState] => e[1] !== undefined)),
  };
  const sinceOf = (held: { commit: Commit | null; attempted: Commit[] } | undefined): Since | undefined => {
    if (held?.commit === commit) return named([]);
    if (held?.commit === A && held.attempted.length === 0) return named(diff);
    return undefined;
  };
  const targets = Object.keys(targetStates);
  const targetSince = new Map(targets.map((name) => [name, shape.since !== undefined && name in shape.since ? shape.since[name] : sinceOf(targetStates[name])]));
  const sourceSince = shape.since !== undefined && 'source' in shape.since ? shape.since.source : sinceOf(state.source);
  const lookUp = pathsToLookUp(request, { state, targets, targetSince, commit, now: NOW }, KEEP_NOTHING);
  const kinds = new Map(lookUp.map((p): [string, EntryKind] => [p, shape.kinds?.[p] ?? (lookUp.some((q) => q.startsWith(`${p}/`)) ? 'directory' : 'other')]));
  const treeKinds = new Map(treePathsToLookUp({ sourceSince, targetSince }).map((d): [string, EntryKind] => [d, shape.treeKinds?.[d] ?? 'directory']));
  return { commit, state, targets, sourceSince, targetSince, unsafeName: shape.unsafeName, emptyTree: shape.emptyTree ?? false, treeKinds, kinds, now: NOW };
}

type Planned = Extract<DeployPlan, { kind: 'deploy' }>;

function deployOf(result: DeployPlan): Planned {
  if (result.kind !== 'deploy') throw new Error(`expected a deploy, got ${JSON.stringify(result)}`);
  return result;
}

function planned(diff: Change[], shape: FarmShape = {}, request: DeployAsk = ask(), keep: Keep = KEEP_NOTHING): Planned {
  return deployOf(planDeploy(request, farm(diff, shape, request), keep));
}

const passes = (p: Planned): Record<string, string> => Object.fromEntries(p.targets.map((t) => [t.name, t.sync.kind === 'full' ? `full: ${t.sync.why}` : t.sync.kind]));

describe('planDeploy: the whole deploy from the facts', () => {
  it('a push to a farm in step: the source writes the diff, every target gets the named paths, nothing asked of rsync first', () => {
    const p = planned([M('index.html'), D('old.html')], { kinds: { 'old.html': 'missing' } });
    expect(p.source).toEqual({ kind: 'paths', writes: [M('index.html'), D('old.html')] });
    expect(p.targets.map((t) => t.name)).toEqual(['web1', 'web2', 'web3']);
    for (const t of p.targets) {
      expect(t).toMatchObject({ from: A, preflight: undefined, alreadyAttempted: false, upToDate: false });
      expect(t.sync).toMatchObject({ kind: 'paths', sends: ['index.html'], removals: ['old.html'], prunes: ['.'], deleted: 1 });
    }
  });

  it('a farm out of step: each target planned from what it holds', () => {
    const p = planned([M('index.html')], {
      targets: {
        inStep: ok(),
        fresh: undefined,
        already: ok({ commit: B }),
        cutShort: ok({ status: 'failed', attempted: [B] }),
        lost: ok({ commit: C }),
      },
    });
    expect(passes(p)).toEqual({
      inStep: 'paths',
      fresh: 'full: no deploy recorded for this target',
      already: 'none',
      cutShort: 'full: an earlier transfer to it was cut short',
      lost: 'full: its state cannot be traced',
    });
    expect(p.targets.find((t) => t.name === 'already')?.upToDate).toBe(true);
    expect(p.targets.find((t) => t.name === 'cutShort')).toMatchObject({ alreadyAttempted: true, from: A });
    expect(p.targets.find((t) => t.name === 'fresh')?.from).toBeNull();
  });

  it('the source: left alone when it holds the commit, rewritten whole when untraceable, its own cut-short checkout put back', () => {
    expect(planned([M('a')], { source: { commit: B, attempted: [] } }).source).toBeUndefined();
    expect(planned([M('a')], { source: { commit: A, attempted: [B] }, since: { source: undefined } }).source).toEqual({ kind: 'all', removeOthers: true });
    expect(planned([M('a')], { source: { commit: null, attempted: [], untraceable: true } }).source).toEqual({ kind: 'all', removeOthers: true });
    const touched = planned([M('a')], { source: { commit: A, attempted: [C] }, since: { source: named([M('a')], [M('tried.html')]) } });
    expect(touched.source).toEqual({ kind: 'paths', writes: [M('a'), { status: 'M', path: 'tried.html', entry: { mode: '100644', blob } }] });
  });

  it('a source that holds the commit but has an attempt since does not hold it', () => {
    expect(planned([M('a')], { source: { commit: B, attempted: [C] }, since: { source: undefined } }).source).toEqual({ kind: 'all', removeOthers: true });
  });

  describe('coalescing: a push that waited for the lock while a later one deployed the tip', () => {
    const inStep = { commit: B, current: { commit: B, deployId: 9, at: 't' }, source: { commit: B, attempted: [] }, targets: { web1: ok({ commit: B }), web2: ok({ commit: B }) } } satisfies FarmShape;

    it('does nothing when the source and every target hold the commit, naming the deploy that took them there', () => {
      expect(planDeploy(ask({ coalesce: true }), farm([], inStep, ask({ coalesce: true })), KEEP_NOTHING)).toEqual({ kind: 'coalesced', deployId: 9 });
    });

    it('deploys when not asked to coalesce (a manual deploy records the commit again)', () => {
      expect(passes(planned([], inStep))).toEqual({ web1: 'none', web2: 'none' });
    });

    it('deploys when any target lacks it: one that failed, one with edits from outside git, one not yet deployed, or the source cut short', () => {
      const coalesce = ask({ coalesce: true });
      const cases: FarmShape[] = [
        { ...inStep, targets: { ...inStep.targets, web2: ok({ commit: B, status: 'failed' }) } },
        { ...inStep, targets: { ...inStep.targets, web2: ok({ commit: B, dirty: ['hot.html'] }) } },
        { ...inStep, targets: { ...inStep.targets, web3: undefined } },
        { ...inStep, source: { commit: B, attempted: [C] }, since: { source: undefined } },
        { ...inStep, current: { commit: C, deployId: 10, at: 't' } },
      ];
      for (const shape of cases) expect(planDeploy(coalesce, farm([], shape, coalesce), KEEP_NOTHING).kind, JSON.stringify(shape)).toBe('deploy');
    });
  });

  describe('refusals: one line, before anything is touched', () => {
    it('a name fanout refuses, shortened', () => {
      const result = planDeploy(ask(), farm([M('a')], { unsafeName: { path: `x/${'n'.repeat(300)}`, problem: 'a name of 300 bytes (the limit is 255)' } }), KEEP_NOTHING);
      expect(result.kind).toBe('refused');
      expect(result.kind === 'refused' && result.why).toMatch(/^commit b{10} names a name of 300 bytes \(the limit is 255\): "x\/n+\.\.\.\(302 bytes\)"; refusing to deploy it, nothing was touched$/);
    });

    it('an entry written below something that is not a directory in the commit (the same name twice)', () => {
      const link = farm([add('d', '120000'), add('d/evil.html')], { treeKinds: { d: 'other' } });
      expect(planDeploy(ask(), link, KEEP_NOTHING)).toEqual({ kind: 'refused', exitCode: 2, why: expect.stringMatching(/has entries below "d", which is not a directory in it/) as string });
      // the tree's answer alone refuses it too: the symlink `d` is not in this diff
      const other = farm([add('d/evil.html')], { treeKinds: { d: 'other' } });
      expect(planDeploy(ask(), other, KEEP_NOTHING).kind).toBe('refused');
      expect(planDeploy(ask(), farm([add('d/fine.html')]), KEEP_NOTHING).kind).toBe('deploy');
    });

    it('an empty tree when the source must be brought to it, unless allowed; a sync of a source that already holds it is guarded at apply', () => {
      expect(planDeploy(ask(), farm([D('index.html')], { emptyTree: true }), KEEP_NOTHING)).toEqual({
        kind: 'refused',
        exitCode: 2,
        why: 'commit bbbbbbbbbb has no files; refusing to deploy it (it would empty every target); nothing was touched. --allow-empty if that is intended',
      });
      expect(planDeploy(ask({ allowEmpty: true }), farm([D('index.html')], { emptyTree: true }), KEEP_NOTHING)).toMatchObject({ kind: 'deploy', allowEmpty: true });
      expect(planDeploy(ask(), farm([], { source: { commit: B, attempted: [] }, emptyTree: true }), KEEP_NOTHING).kind).toBe('deploy');
    });

    it('a release a check failed on goes to no more hosts, exit 1, unless forced; another commit is not held back by it', () => {
      const facts = farm([M('index.html')]);
      facts.state.rejected = { commit: B, deployId: 6, target: 'web2', detail: 'HTTP 500 (expected 200)', at: 't' };
      expect(planDeploy(ask(), facts, KEEP_NOTHING)).toEqual({
        kind: 'refused',
        exitCode: 1,
        why: 'release bbbbbbbbbb failed its check on web2 in deploy #6 (HTTP 500 (expected 200)); fanout sends it to no more hosts: push a fix, or fanout rollback; --force sends it anyway',
      });
      expect(planDeploy(ask({ force: true }), facts, KEEP_NOTHING).kind).toBe('deploy');
      facts.state.rejected = { commit: C, deployId: 6, target: 'web2', detail: 'HTTP 500', at: 't' };
      expect(planDeploy(ask(), facts, KEEP_NOTHING).kind).toBe('deploy');
    });

    it('a deploy that coalesces is not refused for a tree it will not write', () => {
      const shape: FarmShape = { commit: B, current: { commit: B, deployId: 2, at: 't' }, source: { commit: B, attempted: [] }, targets: { web1: ok({ commit: B }) }, emptyTree: true };
      expect(planDeploy(ask({ coalesce: true }), farm([], shape, ask({ coalesce: true })), KEEP_NOTHING).kind).toBe('coalesced');
    });
  });

  describe('type changes', () => {
    it('a submodule is the empty directory every checkout makes for it, though git, lacking its commit, calls it missing', () => {
      const p = planned([add('.gitmodules'), add('vendor/theme', '160000')], { kinds: { vendor: 'directory', 'vendor/theme': 'missing' } }, ask(), KEEP_NOTHING);
      expect(p.targets[0]?.sync).toMatchObject({ kind: 'paths', sends: ['.gitmodules', 'vendor', 'vendor/theme'], removals: [], prunes: [] });
      // gone again: removed like any directory
      const gone = planned([D('vendor/theme')], { kinds: { vendor: 'missing', 'vendor/theme': 'missing' } }, ask(), KEEP_NOTHING);
      expect(gone.targets[0]?.sync).toMatchObject({ kind: 'paths', sends: [], removals: ['vendor'], prunes: ['.'] });
    });

    it('a file that becomes a directory: the directory and what is in it are sent, nothing deleted by name', () => {
      const p = planned([D('about'), add('about/index.html')], {}, ask(), KEEP_NOTHING);
      expect(p.targets[0]?.sync).toMatchObject({ kind: 'paths', sends: ['about', 'about/index.html'], removals: [], deleted: 0 });
    });

    it('a directory that becomes a file: a replaced directory, asked of rsync first when anything is protected', () => {
      const diff = [D('media/a.html'), add('media')];
      const kinds = { media: 'other', 'media/a.html': 'missing' } as const;
      const plain = planned(diff, { kinds }, ask(), KEEP_NOTHING);
      expect(plain.targets[0]).toMatchObject({ sync: { kind: 'paths', replacedDirectories: ['media'] }, preflight: undefined });
      const kept = planned(diff, { kinds }, ask(), { protect: ['uploads/'], exclude: [], targets: [] });
      expect(kept.targets[0]?.preflight).toEqual({ kind: 'send', paths: ['media'] });
    });

    it('a symlink that replaces a file is sent like any file', () => {
      const p = planned([{ status: 'T', path: 'latest', entry: { mode: '120000', blob }, before: { mode: '100644', blob } }]);
      expect(p.targets[0]?.sync).toMatchObject({ kind: 'paths', sends: ['latest'], removals: [] });
    });
  });

  describe('maxDelete, counted as rsync will count it', () => {
    it('a paths pass counts what it removes, everything inside a removed directory included', () => {
      const diff = [D('old/a.html'), D('old/sub/b.html'), D('gone.html')];
      const kinds = { old: 'missing', 'old/a.html': 'missing', 'old/sub': 'missing', 'old/sub/b.html': 'missing', 'gone.html': 'missing' } as const;
      const p = planned(diff, { kinds }, ask({ maxDelete: 4 }));
      expect(p.targets[0]?.sync).toMatchObject({ kind: 'paths', removals: ['gone.html', 'old'], deleted: 5 });
      expect(p.targets[0]?.preflight).toBeUndefined();
      expect(decideTransfers(p, new Map(), KEEP_NOTHING, false).refusal).toBe(
        'the deploy would delete 5 files or directories on web1, more than maxDelete (4); nothing was touched. If that is intended: fanout deploy --max-delete 5',
      );
      expect(decideTransfers(planned(diff, { kinds }, ask({ maxDelete: 5 })), new Map(), KEEP_NOTHING, false).refusal).toBeUndefined();
    });

    it('a full pass is asked of rsync first, and refused on its count; a dry run says the real run would refuse', () => {
      const p = planned([M('a')], { targets: { web1: ok(), web2: undefined } }, ask({ maxDelete: 10 }));
      expect(p.targets.map((t) => t.preflight)).toEqual([undefined, { kind: 'full' }]);
      const answers = new Map([['web2', answer({ deletions: 11 })]]);
      expect(decideTransfers(p, answers, KEEP_NOTHING, false).refusal).toMatch(/^the deploy would delete 11 files or directories on web2, more than maxDelete \(10\); nothing was touched/);
      expect(decideTransfers(p, answers, KEEP_NOTHING, true).refusal).toMatch(/^dry run: the deploy would delete 11 .* the real run would refuse it/);
      expect(decideTransfers(p, new Map([['web2', answer({ deletions: 10 })]]), KEEP_NOTHING, false).refusal).toBeUndefined();
    });

    it('without maxDelete nothing is counted and no full pass is asked first unless something is protected', () => {
      const p = planned([M('a')], { targets: { web1: undefined } });
      expect(p.targets[0]?.preflight).toBeUndefined();
      expect(planned([M('a')], { targets: { web1: undefined } }, ask(), { protect: [], exclude: ['*.swp'], targets: [] }).targets[0]?.preflight).toEqual({ kind: 'full' });
      expect(decideTransfers(p, new Map([['web1', answer({ deletions: 1e6 })]]), KEEP_NOTHING, false).refusal).toBeUndefined();
    });
  });

  describe('decideTransfers: what rsync answered before anything ran', () => {
    const p = planned([D('media/a.html'), add('media')], { kinds: { media: 'other', 'media/a.html': 'missing' } }, ask(), { protect: ['uploads/'], exclude: [], targets: [] });

    it('a target whose directory holds protected content that must become a file fails alone, naming it; the others go ahead', () => {
      const decision = decideTransfers(p, new Map([['web2', answer({ blockedBy: 'media', protectedNames: ['media/uploads'] })], ['web1', answer()]]), { protect: ['uploads/'], exclude: [] }, false);
      expect(decision.refusal).toBeUndefined();
      expect([...decision.failures.keys()]).toEqual(['web2']);
      expect(decision.failures.get('web2')).toEqual({ error: expect.stringMatching(/^media must become a file, but on this target it is a directory holding media\/uploads/) as string, attempts: 1, durationMs: 0 });
    });

    it('a target rsync could not reach fails with what rsync said, its attempts counted', () => {
      const failure = { error: 'connection refused', attempts: 3, durationMs: 1200 };
      expect(decideTransfers(p, new Map([['web3', answer({ failure })]]), KEEP_NOTHING, false).failures.get('web3')).toEqual(failure);
    });
  });

  describe('watch: edits made outside git', () => {
    it('are named to every target beside its diff, and recorded with the plan', () => {
      const request = ask({ outsidePaths: ['hot.html'] });
      const p = planned([], { source: { commit: B, attempted: [] }, targets: { web1: ok({ commit: B }), web2: ok({ commit: B, dirty: ['earlier.html'] }) } }, request);
      expect(p.outsidePaths).toEqual(['hot.html']);
      expect(p.targets.map((t) => (t.sync.kind === 'paths' ? t.sync.sends : t.sync.kind))).toEqual([['hot.html'], ['earlier.html', 'hot.html']]);
      expect(p.targets[1]?.upToDate).toBe(false);
    });

    it("watch's start asks for a full pass of every target, comparing size and time", () => {
      const p = planned([], { source: { commit: B, attempted: [] } }, ask({ full: true, checksum: false }));
      for (const t of p.targets) expect(t.sync).toEqual({ kind: 'full', why: 'full sync requested', checksum: false, sweep: true });
    });
  });
});

function answer(more: Partial<PreflightAnswer> = {}): PreflightAnswer {
  return { deletions: 0, blockedBy: undefined, protectedNames: [], failure: undefined, ...more };
}

describe('reading the facts: what the engine must look up', () => {
  it('pathsToLookUp: every path any target plan names, with the directories above, once', () => {
    const request = ask();
    const facts = farm([M('css/a.css')], { targets: { web1: ok(), web2: ok({ dirty: ['js/b.js'] }), web3: undefined } });
    expect(pathsToLookUp(request, facts, KEEP_NOTHING).sort()).toEqual(['css', 'css/a.css', 'js', 'js/b.js']);
    expect(pathsToLookUp(ask({ full: true }), facts, KEEP_NOTHING)).toEqual([]);
  });

  it('directoriesAbove and treePathsToLookUp: the directories above what the diffs write, not above what they delete', () => {
    expect(directoriesAbove([add('a/b/c.html'), add('a/d.html'), D('x/y.html')]).sort()).toEqual(['a', 'a/b']);
    // the entries of an interrupted attempt are another commit's: not looked up in this one
    expect(treePathsToLookUp({ sourceSince: named([], [add('tried/x.html')]), targetSince: new Map([['web1', named([add('p/q.html')])]]) })).toEqual(['p']);
  });

  it('needsTreeScan: when the source is rewritten whole, every name in the tree is checked', () => {
    expect(needsTreeScan(named([M('a')]))).toBe(false);
    expect(needsTreeScan(named([M('.gitattributes')]))).toBe(true);
    expect(needsTreeScan(undefined)).toBe(true);
    expect(needsTreeScan({ kind: 'too many', attributes: false })).toBe(true);
  });

  it('kindsFromTree: from the source where the checkout leaves it alone, from the tree where it writes', () => {
    const paths = ['a', 'a/b.html', 'c', 'c/d', 'c/d/e.html', 'hot.html'];
    expect(kindsFromTree(undefined, paths)).toEqual({ tree: [], source: paths });
    expect(kindsFromTree({ kind: 'all', removeOthers: true }, paths)).toEqual({ tree: paths, source: [] });
    expect(kindsFromTree({ kind: 'switch', from: A }, paths)).toEqual({ tree: paths, source: [] });
    // c/d is written: c (above it), c/d and c/d/e.html (below it) come from the tree
    expect(kindsFromTree({ kind: 'paths', writes: [add('c/d')] }, paths)).toEqual({ tree: ['c', 'c/d', 'c/d/e.html'], source: ['a', 'a/b.html', 'hot.html'] });
  });
});

describe('chooseSlot: which slot a deploy writes, and which goes live', () => {
  const layout = { kind: 'slots', count: 2, graceMs: 10_000, shared: [] } as const;
  const slot = (commit: Commit | null, more: Partial<SlotState> = {}): SlotState => ({ commit, at: '2026-11-25T11:00:00Z', status: 'ok', attempted: [], ...more });
  const target = (slots: Record<string, SlotState>, live: string | null, more: Partial<TargetState> = {}): TargetState => ({ commit: slots[live ?? '']?.commit ?? null, at: 't', status: 'ok', attempted: [], slots, live, ...more });
  const longAgo = new Date(NOW - 60_000).toISOString();

  it('nothing when the live slot holds the commit; a switch alone when another slot does (a rollback)', () => {
    expect(chooseSlot(target({ '1': slot(B), '2': slot(A) }, '1'), B, layout, NOW, false)).toEqual({ stage: undefined, switchTo: undefined, repair: undefined });
    expect(chooseSlot(target({ '1': slot(B), '2': slot(A) }, '1'), A, layout, NOW, false)).toEqual({ stage: undefined, switchTo: '2', repair: undefined });
    // a slot cut short, failed, or lacking edits from outside git does not hold it
    for (const bad of [slot(A, { attempted: [C] }), slot(A, { status: 'failed' }), slot(A, { dirty: ['hot.html'] })]) {
      expect(chooseSlot(target({ '1': slot(B), '2': bad }, '1'), A, layout, NOW, false).stage?.slot).toBe('2');
    }
    // a batch of edits from outside git, or a full pass, writes a slot whatever it holds
    expect(chooseSlot(target({ '1': slot(B), '2': slot(A) }, '1'), A, layout, NOW, true).stage?.slot).toBe('2');
  });

  it('stages a slot that is not live, after its grace; the first one on a new target, seeded from nothing', () => {
    expect(chooseSlot(undefined, B, layout, NOW, false)).toEqual({ stage: { slot: '1', notBefore: undefined, seedFrom: undefined, copyFrom: undefined, link: false }, switchTo: '1', repair: undefined });
    const retired = new Date(NOW - 4000).toISOString();
    // what the live slot holds is copied on the host, not sent again
    expect(chooseSlot(target({ '1': slot(A), '2': slot(C, { retiredAt: retired }) }, '1'), B, layout, NOW, false).stage).toEqual({ slot: '2', notBefore: NOW + 6000, seedFrom: undefined, copyFrom: '../1/', link: false });
    expect(chooseSlot(target({ '1': slot(A), '2': slot(C, { retiredAt: longAgo }) }, '1'), B, layout, NOW, false).stage?.notBefore).toBeUndefined();
  });

  it('of several free slots: one past its grace, then one whose holding is known, then the most recent', () => {
    const three = { ...layout, count: 3 };
    const recent = new Date(NOW - 1000).toISOString();
    expect(chooseSlot(target({ '1': slot(A), '2': slot(C, { retiredAt: recent }), '3': slot(C, { retiredAt: longAgo }) }, '1'), B, three, NOW, false).stage?.slot).toBe('3');
    expect(chooseSlot(target({ '1': slot(A), '2': slot(C, { status: 'failed' }), '3': slot(C) }, '1'), B, three, NOW, false).stage?.slot).toBe('3');
    expect(chooseSlot(target({ '1': slot(A), '2': slot(C, { at: '2026-11-25T10:00:00Z' }), '3': slot(C, { at: '2026-11-25T11:30:00Z' }) }, '1'), B, three, NOW, false).stage?.slot).toBe('3');
  });

  it('a slot holding nothing is seeded on the host: from the files in place when moving from in-place, else from the live slot', () => {
    const inPlace: TargetState = { commit: A, at: 't', status: 'ok', attempted: [] };
    expect(chooseSlot(inPlace, B, layout, NOW, false).stage).toMatchObject({ slot: '1', seedFrom: '../../' });
    expect(chooseSlot(target({ '1': slot(A) }, '1'), B, layout, NOW, false).stage).toMatchObject({ slot: '2', seedFrom: '../1/' });
    expect(chooseSlot(target({ '1': slot(A), '2': slot(C) }, '1'), B, layout, NOW, false).stage?.seedFrom).toBeUndefined();
  });

  it('after a switch cut short both slots may be live: one is pinned first, the other staged after its grace', () => {
    const cut = target({ '1': slot(A), '2': slot(C) }, '1', { switching: '2' });
    expect(chooseSlot(cut, B, layout, NOW, false)).toEqual({ stage: { slot: '1', notBefore: NOW + 10_000, seedFrom: undefined, copyFrom: undefined, link: false }, switchTo: '1', repair: '2' });
    // the commit is in one of them: switching to it settles it
    expect(chooseSlot(cut, C, layout, NOW, false)).toEqual({ stage: undefined, switchTo: '2', repair: undefined });
    expect(chooseSlot(cut, A, layout, NOW, false)).toEqual({ stage: undefined, switchTo: '1', repair: undefined });
  });

  it('links the shared paths into a slot whose links differ from the config, and then writes it whole', () => {
    const shared = { ...layout, shared: ['uploads'] };
    const step = chooseSlot(target({ '1': slot(A, { linked: ['uploads'] }), '2': slot(C) }, '1'), B, shared, NOW, false);
    expect(step.stage).toMatchObject({ slot: '2', link: true });
    expect(writtenTree(target({ '1': slot(A), '2': slot(C) }, '1'), step)?.commit).toBeNull();
    expect(chooseSlot(target({ '1': slot(A), '2': slot(C, { linked: ['uploads'] }) }, '1'), B, shared, NOW, false).stage?.link).toBe(false);
  });
});

describe('planDeploy with slots', () => {
  const slotted: Keep = { protect: [], exclude: [], targets: ['web1', 'web2'].map((name) => ({ name, layout: { kind: 'slots', count: 2, graceMs: 0, shared: ['uploads'] } as const })) };
  const at = (commit: Commit, other: Commit | null): TargetState => ({ commit, at: 't', status: 'ok', attempted: [], live: '1', slots: { '1': { commit, at: 't', status: 'ok', attempted: [], linked: ['uploads'] }, ...(other === null ? {} : { '2': { commit: other, at: 't', status: 'ok', attempted: [], linked: ['uploads'] } }) } });

  it("plans each target's staging slot from what that slot holds", () => {
    const shape: FarmShape = { targets: { web1: at(A, C), web2: at(A, null) }, since: { web1: named([M('index.html')]), web2: undefined } };
    const p = deployOf(planDeploy(ask(), farm([M('index.html')], shape), slotted));
    expect(p.targets.map((t) => [t.name, t.slots?.stage?.slot, t.slots?.switchTo, t.sync.kind])).toEqual([
      ['web1', '2', '2', 'paths'],
      ['web2', '2', '2', 'full'],
    ]);
    expect(p.targets[1]?.slots?.stage?.seedFrom).toBe('../1/');
  });

  it('coalesces only when every live slot holds the commit', () => {
    const coalesce = ask({ coalesce: true });
    const shape: FarmShape = { commit: B, current: { commit: B, deployId: 3, at: 't' }, source: { commit: B, attempted: [] }, targets: { web1: at(B, A), web2: at(B, A) } };
    expect(planDeploy(coalesce, farm([], shape, coalesce), slotted).kind).toBe('coalesced');
    const behind: FarmShape = { ...shape, targets: { web1: at(B, A), web2: { ...at(A, B), commit: A } } };
    expect(planDeploy(coalesce, farm([], behind, coalesce), slotted).kind).toBe('deploy');
  });

  it('refuses a commit that contains a shared path', () => {
    const facts = { ...farm([add('uploads/a.jpg')], { targets: { web1: at(A, null), web2: at(A, null) } }), treeKinds: new Map<string, EntryKind>([['uploads', 'directory']]) };
    expect(planDeploy(ask(), facts, slotted)).toEqual({ kind: 'refused', exitCode: 2, why: expect.stringMatching(/contains "uploads", a shared path/) as string });
    expect(sharedPaths(slotted)).toEqual(['uploads']);
  });

  it('with a build, refuses a commit that contains the directory watch mirrors (watch.path); without one, that is the site\'s own', () => {
    const built: Keep = { protect: [], exclude: [], targets: [{ name: 'web1', layout: { kind: 'in-place' } }], build: {}, watch: { path: 'up/media' } };
    const facts = { ...farm([add('up/media/x.html')], { targets: { web1: at(A, null) } }), treeKinds: new Map<string, EntryKind>([['up', 'directory'], ['up/media', 'directory']]) };
    expect(planDeploy(ask(), facts, built)).toEqual({ kind: 'refused', exitCode: 2, why: expect.stringMatching(/contains "up\/media", the directory fanout watch mirrors as it is/) as string });
    expect(sharedPaths(built)).toEqual(['up/media']);
    // a file where a directory above it must be would take its place as well
    const over = { ...farm([add('up')], { targets: { web1: at(A, null) } }), treeKinds: new Map<string, EntryKind>([['up', 'other']]) };
    expect(planDeploy(ask(), over, built)).toEqual({ kind: 'refused', exitCode: 2, why: expect.stringMatching(/contains "up" \(not a directory\) where "up\/media" needs one, the directory fanout watch mirrors as it is/) as string });
    expect(reservedPathsToLookUp(built).sort()).toEqual(['up', 'up/media']);
    const plain = { ...built, build: undefined };
    expect(planDeploy(ask(), facts, plain).kind).toBe('deploy');
    expect(sharedPaths(plain)).toEqual([]);
  });
});
