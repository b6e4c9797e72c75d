import { describe, expect, it } from 'vitest';
import { MAX_CHANGES, deletionRefusal, planTarget, preflightPass, refusedReplacement, sourceStep, sourceWrites, type Since, type TargetFacts } from '../../src/deploy-plan.js';
import type { Change, Commit, EntryKind } from '../../src/git.js';
import type { TargetState } from '../../src/journal.js';
import type { SyncPlan } from '../../src/plan.js';

const A = 'a'.repeat(40) as Commit;
const B = 'b'.repeat(40) as Commit;
const blob = 'e'.repeat(40);
const M = (p: string): Change => ({ status: 'M', path: p, entry: { mode: '100644', blob }, before: { mode: '100644', blob } });
const D = (p: string): Change => ({ status: 'D', path: p, before: { mode: '100644', blob } });
const named = (changes: Change[], extra: Change[] = []): Since => ({ kind: 'named', changes, extra });
const ok = (more: Partial<TargetState> = {}): TargetState => ({ commit: A, at: 't', status: 'ok', attempted: [], ...more });

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
    expect(plan(facts({ full: true }))).toEqual({ kind: 'full', why: 'full sync requested', checksum: true });
    expect(plan(facts({ state: ok({ attempted: [B] }) }))).toMatchObject({ kind: 'full', why: 'an earlier transfer to it was cut short' });
    expect(plan(facts({ state: undefined, since: undefined }))).toMatchObject({ kind: 'full', why: 'no deploy recorded for this target' });
    expect(plan(facts({ since: undefined }))).toMatchObject({ kind: 'full', why: 'its state cannot be traced' });
    expect(plan(facts({ since: { kind: 'too many', attributes: false } }))).toEqual({ kind: 'full', why: `more than ${MAX_CHANGES} paths changed` });
    expect(plan(facts({ since: { kind: 'too many', attributes: true } }))).toMatchObject({ kind: 'full', checksum: true });
    expect(plan(facts({ since: named([M('.gitattributes')]) }))).toMatchObject({ kind: 'full', checksum: true, why: 'a .gitattributes file changed' });
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
  const full: SyncPlan = { kind: 'full', why: 'x' };
  const replacing: SyncPlan = { kind: 'paths', sends: ['media'], removals: [], prunes: [], changed: 1, deleted: 0, replacedDirectories: ['media'] };
  const plain: SyncPlan = { ...replacing, replacedDirectories: [] };
  const none = { protect: [], exclude: [] };
  const keeps = { protect: ['uploads/'], exclude: [] };

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
      ['web2', { kind: 'full', why: 'x' }],
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
