import { describe, expect, it } from 'vitest';
import { parseRawDiff, type Change } from '../../../src/base/git.js';
import { afterLeftovers, candidatePaths, planSync, rsyncPasses, withAncestors } from '../../../src/engine/sync-plan.js';
import type { RsyncPass } from '../../../src/transport/rsync-pass.js';

const M = (p: string): Change => ({ status: 'M', path: p });
const A = (p: string): Change => ({ status: 'A', path: p });
const D = (p: string): Change => ({ status: 'D', path: p });

describe('planSync: full passes', () => {
  it('is full when the target state is unknown', () => {
    expect(planSync({ changes: undefined })).toEqual({ kind: 'full', why: 'state unknown', sweep: true });
  });

  it('is full when asked, even with a known diff', () => {
    expect(planSync({ changes: [M('index.html')], full: true })).toEqual({ kind: 'full', why: 'full sync requested', checksum: true, sweep: true });
    expect(planSync({ changes: [], full: true })).toMatchObject({ kind: 'full' });
  });

  it('carries the caller’s reason', () => {
    expect(planSync({ changes: undefined, why: 'never deployed' })).toEqual({ kind: 'full', why: 'never deployed', sweep: true });
    expect(planSync({ changes: [M('a')], full: true, why: 'sync --full' })).toEqual({ kind: 'full', why: 'sync --full', checksum: true, sweep: true });
  });

  it('compares contents only on a requested full pass, not on one forced by unknown state', () => {
    const asked = planSync({ changes: undefined, full: true });
    const unknown = planSync({ changes: undefined });
    expect(asked.kind === 'full' && asked.checksum === true).toBe(true);
    expect(unknown.kind === 'full' && unknown.checksum === true).toBe(false);
  });

  it('is not full when full is false', () => {
    expect(planSync({ changes: [M('a')], full: false }).kind).toBe('paths');
  });
});

describe('planSync: nothing to do', () => {
  it('is none when nothing changed and nothing extra', () => {
    expect(planSync({ changes: [] })).toEqual({ kind: 'none' });
    expect(planSync({ changes: [], extraPaths: [] })).toEqual({ kind: 'none' });
  });

  it('is not none when only extra paths are named', () => {
    expect(planSync({ changes: [], extraPaths: ['watch/edited.html'] })).toEqual({
      kind: 'paths',
      sends: ['watch', 'watch/edited.html'],
      removals: [],
      prunes: [],
      changed: 1,
      deleted: 0,
      replacedDirectories: [],
    });
  });
});

describe('planSync: named paths', () => {
  it('names each changed path and every directory above it, sorted and unique', () => {
    const plan = planSync({ changes: [M('css/site/main.css'), A('index.html'), M('css/reset.css'), A('css/site/print.css')] });
    expect(plan).toEqual({
      kind: 'paths',
      sends: ['css', 'css/reset.css', 'css/site', 'css/site/main.css', 'css/site/print.css', 'index.html'],
      removals: [],
      prunes: [],
      changed: 4,
      deleted: 0,
      replacedDirectories: [],
    });
  });

  it('counts what it sends, and what it deletes as rsync counts for --max-delete: files and directories', () => {
    const missing = new Set(['old', 'old/c.html', 'old/b.html', 'x.html']);
    const plan = planSync({ changes: [M('a.html'), D('old/c.html'), D('old/b.html'), A('d.html'), D('x.html')], notDirectories: new Set([...missing, 'a.html', 'd.html']), missing });
    // old, old/b.html, old/c.html and x.html: a removed directory counts with what it held
    expect(plan).toMatchObject({ kind: 'paths', changed: 2, deleted: 4, removals: ['old', 'x.html'], prunes: ['.'] });
  });

  it('a deleted path is a removal, pruned from the directory that held it', () => {
    const missing = new Set(['docs/gone.html']);
    expect(planSync({ changes: [D('docs/gone.html')], notDirectories: missing, missing })).toEqual({
      kind: 'paths',
      sends: [],
      removals: ['docs/gone.html'],
      prunes: ['docs'],
      changed: 0,
      deleted: 1,
      replacedDirectories: [],
    });
  });

  it('prunes each removal from the nearest directory the source still has, once', () => {
    const missing = new Set(['a/old', 'a/old/x', 'a/old/y/z', 'a/old/y', 'a/gone.html', 'top.html']);
    const plan = planSync({ changes: [D('a/old/x'), D('a/old/y/z'), D('a/gone.html'), D('top.html'), M('a/keep.html')], notDirectories: new Set([...missing, 'a/keep.html']), missing });
    expect(plan).toMatchObject({ removals: ['a/gone.html', 'a/old', 'top.html'], prunes: ['.', 'a'], deleted: 6 });
  });

  it('merges extra paths with the changes, without duplicates', () => {
    const plan = planSync({ changes: [M('a/x.html'), M('b/y.html')], extraPaths: ['a/x.html', 'c/z.html', 'b'] });
    expect(plan).toEqual({
      kind: 'paths',
      sends: ['a', 'a/x.html', 'b', 'b/y.html', 'c', 'c/z.html'],
      removals: [],
      prunes: [],
      changed: 4,
      deleted: 0,
      replacedDirectories: [],
    });
  });

  it('treats a rename as a deletion plus an addition', () => {
    const blob = 'e'.repeat(40);
    const changes = parseRawDiff(`:100644 000000 ${blob} ${'0'.repeat(40)} D\0docs/old name.html\0:000000 100644 ${'0'.repeat(40)} ${blob} A\0pages/new name.html\0`);
    expect(changes).toEqual([
      { ...D('docs/old name.html'), before: { mode: '100644', blob } },
      { ...A('pages/new name.html'), entry: { mode: '100644', blob } },
    ]);
    const missing = new Set(['docs', 'docs/old name.html']);
    expect(planSync({ changes, notDirectories: new Set([...missing, 'pages/new name.html']), missing })).toEqual({
      kind: 'paths',
      sends: ['pages', 'pages/new name.html'],
      removals: ['docs'],
      prunes: ['.'],
      changed: 1,
      deleted: 2,
      replacedDirectories: [],
    });
  });

  it('drops paths below a directory missing from the source, keeping the directory itself', () => {
    const changes = [D('old/a.html'), D('old/sub/b.html'), M('keep/c.html')];
    const notDirectories = new Set(['old', 'old/sub', 'old/a.html', 'old/sub/b.html']);
    expect(candidatePaths(changes)).toEqual(['keep', 'keep/c.html', 'old', 'old/a.html', 'old/sub', 'old/sub/b.html']);
    expect(planSync({ changes, notDirectories, missing: notDirectories })).toEqual({
      kind: 'paths',
      sends: ['keep', 'keep/c.html'],
      removals: ['old'],
      prunes: ['.'],
      changed: 1,
      deleted: 4,
      replacedDirectories: [],
    });
  });

  it('a directory that became a file is sent whole and named as a replaced directory', () => {
    // git: "D dir/index.html" and "A dir" (dir is now a file)
    const changes = [D('site/dir/index.html'), A('site/dir')];
    expect(planSync({ changes, notDirectories: new Set(['site/dir']) })).toEqual({
      kind: 'paths',
      sends: ['site', 'site/dir'],
      removals: [],
      prunes: [],
      changed: 1,
      deleted: 0,
      replacedDirectories: ['site/dir'],
    });
  });

  it('a file that stays a file is no replaced directory, nor is a directory that stays one', () => {
    const plan = planSync({ changes: [M('a.html'), A('d/new.html')], notDirectories: new Set(['a.html', 'd/new.html']) });
    expect(plan).toMatchObject({ replacedDirectories: [] });
  });

  it('does not drop a sibling whose name merely starts with the missing directory', () => {
    const plan = planSync({ changes: [D('old/a'), M('older/b'), M('old.html')], notDirectories: new Set(['old', 'old.html', 'older/b']), missing: new Set(['old']) });
    expect(plan).toMatchObject({ sends: ['old.html', 'older', 'older/b'], removals: ['old'] });
  });

  it('drops extra paths below a missing directory too', () => {
    const plan = planSync({ changes: [], extraPaths: ['tmp/a/b', 'x'], notDirectories: new Set(['tmp', 'x']), missing: new Set(['tmp']) });
    expect(plan).toMatchObject({ sends: ['x'], removals: ['tmp'], prunes: ['.'] });
  });
});

describe('withAncestors', () => {
  it('adds every ancestor directory', () => {
    expect(withAncestors(['a/b/c/d.txt'])).toEqual(['a', 'a/b', 'a/b/c', 'a/b/c/d.txt']);
  });

  it('leaves top-level paths alone', () => {
    expect(withAncestors(['index.html', 'robots.txt'])).toEqual(['index.html', 'robots.txt']);
  });

  it('is sorted and unique, whatever the input order', () => {
    expect(withAncestors(['z/y/x', 'a/b', 'z/y/w', 'a/b', 'a'])).toEqual(['a', 'a/b', 'z', 'z/y', 'z/y/w', 'z/y/x']);
  });

  it('fills ancestors in when a deeper path comes after a shallower one', () => {
    expect(withAncestors(['a/b', 'a/b/c/d'])).toEqual(['a', 'a/b', 'a/b/c', 'a/b/c/d']);
    expect(withAncestors(['a/b/c/d', 'a/x/y'])).toEqual(['a', 'a/b', 'a/b/c', 'a/b/c/d', 'a/x', 'a/x/y']);
  });

  it('takes any iterable', () => {
    expect(withAncestors(new Set(['p/q']))).toEqual(['p', 'p/q']);
    expect(withAncestors([])).toEqual([]);
  });
});

describe('candidatePaths', () => {
  it('lists changes and extra paths with their ancestors', () => {
    expect(candidatePaths([M('a/b.html'), D('c/d/e.html')], ['f/g'])).toEqual(['a', 'a/b.html', 'c', 'c/d', 'c/d/e.html', 'f', 'f/g']);
  });

  it('works without extra paths', () => {
    expect(candidatePaths([A('x/y')])).toEqual(['x', 'x/y']);
    expect(candidatePaths([])).toEqual([]);
  });
});

describe('rsyncPasses: what arrives goes first, what goes away after', () => {
  const passes = (input: Parameters<typeof planSync>[0]): RsyncPass[] => {
    const plan = planSync(input);
    return plan.kind === 'paths' ? rsyncPasses(plan) : [];
  };

  it('one pass when nothing is removed', () => {
    expect(passes({ changes: [M('a/x.html'), A('b.html')] })).toEqual([{ kind: 'send', paths: ['a', 'a/x.html', 'b.html'] }]);
  });

  it('sends, then prunes the directories that held the removals, when a change has both', () => {
    const missing = new Set(['old.html', 'gone', 'new/old']);
    expect(
      passes({ changes: [M('index.html'), D('old.html'), D('gone/page.html'), A('new/page.html'), D('new/old')], notDirectories: new Set([...missing, 'index.html', 'new/page.html']), missing }),
    ).toEqual([
      { kind: 'send', paths: ['index.html', 'new', 'new/page.html'] },
      { kind: 'prune', directories: ['.', 'new'] },
    ]);
  });

  it('one prune pass, with no send pass for the directories above the removals alone', () => {
    const missing = new Set(['docs/old.html']);
    expect(passes({ changes: [D('docs/old.html')], notDirectories: missing, missing })).toEqual([{ kind: 'prune', directories: ['docs'] }]);
  });

  it('a path only an earlier attempt touched, now gone, is pruned in the second pass', () => {
    const missing = new Set(['tried.html']);
    expect(passes({ changes: [M('a.html')], extraPaths: ['tried.html'], notDirectories: new Set(['a.html', 'tried.html']), missing })).toEqual([
      { kind: 'send', paths: ['a.html'] },
      { kind: 'prune', directories: ['.'] },
    ]);
  });
});

describe('afterLeftovers: finishing a pass an attempt was cut short in', () => {
  it('a send is followed by a prune of every directory it wrote into, the top included', () => {
    expect(afterLeftovers({ kind: 'send', paths: ['a', 'a/b.html', 'a/c', 'a/c/d.css', 'top.html'] })).toEqual({
      retry: { kind: 'send', paths: ['a', 'a/b.html', 'a/c', 'a/c/d.css', 'top.html'] },
      then: { kind: 'prune', directories: ['.', 'a', 'a/c'] },
    });
  });

  it('a full pass is retried as a sweep; a prune or a links pass needs nothing more', () => {
    expect(afterLeftovers({ kind: 'full', checksum: true })).toEqual({ retry: { kind: 'full', checksum: true, sweep: true }, then: undefined });
    const prune: RsyncPass = { kind: 'prune', directories: ['a'] };
    expect(afterLeftovers(prune)).toEqual({ retry: prune, then: undefined });
    const links: RsyncPass = { kind: 'links', from: '/x', names: ['current'] };
    expect(afterLeftovers(links)).toEqual({ retry: links, then: undefined });
  });
});
