import { describe, expect, it } from 'vitest';
import { parseRawDiff, type Change } from '../../src/git.js';
import { candidatePaths, filesFromList, planSync, rsyncPasses, withAncestors } from '../../src/plan.js';

const M = (p: string): Change => ({ status: 'M', path: p });
const A = (p: string): Change => ({ status: 'A', path: p });
const D = (p: string): Change => ({ status: 'D', path: p });

describe('planSync: full passes', () => {
  it('is full when the target state is unknown', () => {
    expect(planSync({ changes: undefined })).toEqual({ kind: 'full', why: 'state unknown' });
  });

  it('is full when asked, even with a known diff', () => {
    expect(planSync({ changes: [M('index.html')], full: true })).toEqual({ kind: 'full', why: 'full sync requested', checksum: true });
    expect(planSync({ changes: [], full: true })).toMatchObject({ kind: 'full' });
  });

  it('carries the caller’s reason', () => {
    expect(planSync({ changes: undefined, why: 'never deployed' })).toEqual({ kind: 'full', why: 'never deployed' });
    expect(planSync({ changes: [M('a')], full: true, why: 'sync --full' })).toEqual({ kind: 'full', why: 'sync --full', checksum: true });
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
      paths: ['watch', 'watch/edited.html'],
      sends: ['watch', 'watch/edited.html'],
      removals: [],
      changed: 1,
      deleted: 0,
      deletions: [],
    });
  });
});

describe('planSync: named paths', () => {
  it('names each changed path and every directory above it, sorted and unique', () => {
    const plan = planSync({ changes: [M('css/site/main.css'), A('index.html'), M('css/reset.css'), A('css/site/print.css')] });
    expect(plan).toEqual({
      kind: 'paths',
      paths: ['css', 'css/reset.css', 'css/site', 'css/site/main.css', 'css/site/print.css', 'index.html'],
      sends: ['css', 'css/reset.css', 'css/site', 'css/site/main.css', 'css/site/print.css', 'index.html'],
      removals: [],
      changed: 4,
      deleted: 0,
      deletions: [],
    });
  });

  it('counts changed and deleted paths', () => {
    const plan = planSync({ changes: [M('a.html'), D('old/c.html'), D('old/b.html'), A('d.html')] });
    expect(plan).toMatchObject({ kind: 'paths', changed: 2, deleted: 2, deletions: ['old/b.html', 'old/c.html'] });
    expect(plan.kind === 'paths' ? plan.paths : []).toEqual(['a.html', 'd.html', 'old', 'old/b.html', 'old/c.html']);
  });

  it('keeps a deleted path in the list (rsync deletes it through --delete-missing-args)', () => {
    const plan = planSync({ changes: [D('gone.html')] });
    expect(plan).toEqual({ kind: 'paths', paths: ['gone.html'], sends: ['gone.html'], removals: [], changed: 0, deleted: 1, deletions: ['gone.html'] });
  });

  it('merges extra paths with the changes, without duplicates', () => {
    const plan = planSync({ changes: [M('a/x.html'), D('b/y.html')], extraPaths: ['a/x.html', 'c/z.html', 'b'] });
    expect(plan).toEqual({
      kind: 'paths',
      paths: ['a', 'a/x.html', 'b', 'b/y.html', 'c', 'c/z.html'],
      sends: ['a', 'a/x.html', 'b', 'b/y.html', 'c', 'c/z.html'],
      removals: [],
      changed: 3,
      deleted: 1,
      deletions: ['b/y.html'],
    });
  });

  it('treats a rename as a deletion plus an addition', () => {
    const blob = 'e'.repeat(40);
    const changes = parseRawDiff(`:100644 000000 ${blob} ${'0'.repeat(40)} D\0docs/old name.html\0:000000 100644 ${'0'.repeat(40)} ${blob} A\0pages/new name.html\0`);
    expect(changes).toEqual([D('docs/old name.html'), { ...A('pages/new name.html'), entry: { mode: '100644', blob } }]);
    expect(planSync({ changes })).toEqual({
      kind: 'paths',
      paths: ['docs', 'docs/old name.html', 'pages', 'pages/new name.html'],
      sends: ['docs', 'docs/old name.html', 'pages', 'pages/new name.html'],
      removals: [],
      changed: 1,
      deleted: 1,
      deletions: ['docs/old name.html'],
    });
  });

  it('drops paths below a directory missing from the source, keeping the directory itself', () => {
    const changes = [D('old/a.html'), D('old/sub/b.html'), M('keep/c.html')];
    const notDirectories = new Set(['old', 'old/sub']);
    expect(candidatePaths(changes)).toEqual(['keep', 'keep/c.html', 'old', 'old/a.html', 'old/sub', 'old/sub/b.html']);
    expect(planSync({ changes, notDirectories, missing: notDirectories })).toEqual({
      kind: 'paths',
      paths: ['keep', 'keep/c.html', 'old'],
      sends: ['keep', 'keep/c.html'],
      removals: ['old'],
      changed: 1,
      deleted: 2,
      deletions: ['old/a.html', 'old/sub/b.html'],
    });
  });

  it('drops paths below a directory that became a file', () => {
    // git: "D dir/index.html" and "A dir" (dir is now a file)
    const changes = [D('site/dir/index.html'), A('site/dir')];
    expect(planSync({ changes, notDirectories: new Set(['site/dir']) })).toEqual({
      kind: 'paths',
      paths: ['site', 'site/dir'],
      sends: ['site', 'site/dir'],
      removals: [],
      changed: 1,
      deleted: 1,
      deletions: ['site/dir/index.html'],
    });
  });

  it('does not drop a sibling whose name merely starts with the missing directory', () => {
    const plan = planSync({ changes: [D('old/a'), M('older/b'), M('old.html')], notDirectories: new Set(['old']) });
    expect(plan.kind === 'paths' ? plan.paths : []).toEqual(['old', 'old.html', 'older', 'older/b']);
  });

  it('drops extra paths below a missing directory too', () => {
    const plan = planSync({ changes: [], extraPaths: ['tmp/a/b', 'x'], notDirectories: new Set(['tmp']) });
    expect(plan.kind === 'paths' ? plan.paths : []).toEqual(['tmp', 'x']);
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

describe('filesFromList', () => {
  it('terminates every path with a NUL', () => {
    expect(filesFromList(['a', 'b/c'])).toBe('a\0b/c\0');
    expect(filesFromList([])).toBe('');
  });

  it('keeps awkward names byte-exact', () => {
    const names = ['with space.html', 'line\nbreak', 'tab\there', `quote's "double"`, '-leading-dash', '--delete', 'café/naïve.html', '日本語.txt', 'back\\slash', '*?[glob]', 'trailing space '];
    const list = filesFromList(names);
    expect(list.split('\0')).toEqual([...names, '']);
    const expected = Buffer.concat(names.map((n) => Buffer.concat([Buffer.from(n, 'utf8'), Buffer.from([0])])));
    expect(Buffer.from(list, 'utf8').equals(expected)).toBe(true);
  });
});

describe('parseRawDiff', () => {
  it('reads status, path and the new blob, any file name intact', () => {
    const blob = 'b'.repeat(40);
    const zero = '0'.repeat(40);
    const out = `:100644 100755 ${'a'.repeat(40)} ${blob} M\0bin/run me.sh\0:100644 000000 ${'c'.repeat(40)} ${zero} D\0old\nname.html\0:000000 120000 ${zero} ${blob} A\0-link\0`;
    expect(parseRawDiff(out)).toEqual([
      { status: 'M', path: 'bin/run me.sh', entry: { mode: '100755', blob } },
      { status: 'D', path: 'old\nname.html' },
      { status: 'A', path: '-link', entry: { mode: '120000', blob } },
    ]);
  });

  it('reads nothing from empty output', () => {
    expect(parseRawDiff('')).toEqual([]);
  });
});

describe('rsyncPasses: what arrives goes first, what goes away after', () => {
  const passes = (input: Parameters<typeof planSync>[0]): string[][] => {
    const plan = planSync(input);
    return plan.kind === 'paths' ? rsyncPasses(plan) : [];
  };

  it('one pass when nothing is removed', () => {
    expect(passes({ changes: [M('a/x.html'), A('b.html')] })).toEqual([['a', 'a/x.html', 'b.html']]);
  });

  it('sends, then removes, when a change has both', () => {
    const missing = new Set(['old.html', 'gone']);
    expect(passes({ changes: [M('index.html'), D('old.html'), D('gone/page.html'), A('new/page.html')], notDirectories: new Set([...missing, 'index.html', 'new/page.html']), missing })).toEqual([
      ['index.html', 'new', 'new/page.html'],
      ['gone', 'old.html'],
    ]);
  });

  it('one removal pass, with no pass for the directories above the removals alone', () => {
    const missing = new Set(['docs/old.html']);
    expect(passes({ changes: [D('docs/old.html')], notDirectories: missing, missing })).toEqual([['docs/old.html']]);
  });

  it('a path only an earlier attempt touched, now gone, is removed in the second pass', () => {
    const missing = new Set(['tried.html']);
    expect(passes({ changes: [M('a.html')], extraPaths: ['tried.html'], notDirectories: new Set(['a.html', 'tried.html']), missing })).toEqual([['a.html'], ['tried.html']]);
  });
});
