import { describe, expect, it } from 'vitest';
import { ItemCounter, itemPath, parseItemized } from '../../../src/transport/itemize.js';

describe('parseItemized', () => {
  // as rsync 3.x prints --out-format='%i %l %n' (captured from a real run)
  const FULL_PASS = [
    '.d..t...... 4096 ./',
    'cd+++++++++ 4096 dir/',
    '>f+++++++++ 2 a',
    '>f+++++++++ 10 dir/b',
    'cL+++++++++ 1 link',
    '.d..t...... 4096 sub/',
    '>f..t...... 300 sub/q',
    '<f.st...... 7 pushed file.html',
    '*deleting   0 olddir/z',
    '*deleting   0 olddir/',
    '*deleting   0 old.html',
    '',
  ].join('\n');

  it('counts files and symlinks sent, not directories, and everything deleted, directories too', () => {
    const counts = parseItemized(FULL_PASS);
    expect(counts.sent).toBe(5);
    expect(counts.deleted).toBe(3);
  });

  it('adds up the length of the files sent, not of directories or symlinks', () => {
    expect(parseItemized(FULL_PASS).bytes).toBe(2 + 10 + 300 + 7);
  });

  it('keeps every itemized line as "%i %n", without the length', () => {
    const counts = parseItemized(FULL_PASS);
    expect(counts.lines).toEqual([
      '.d..t...... ./',
      'cd+++++++++ dir/',
      '>f+++++++++ a',
      '>f+++++++++ dir/b',
      'cL+++++++++ link',
      '.d..t...... sub/',
      '>f..t...... sub/q',
      '<f.st...... pushed file.html',
      '*deleting   olddir/z',
      '*deleting   olddir/',
      '*deleting   old.html',
    ]);
    expect(counts.lines.map(itemPath)).toEqual(['./', 'dir/', 'a', 'dir/b', 'link', 'sub/', 'sub/q', 'pushed file.html', 'olddir/z', 'olddir/', 'old.html']);
  });

  it('keeps a name with spaces and digits whole', () => {
    const counts = parseItemized('>f+++++++++ 5 2024 report 7.pdf\n*deleting   0 old 1.html\n');
    expect(counts.lines.map(itemPath)).toEqual(['2024 report 7.pdf', 'old 1.html']);
    expect(counts.bytes).toBe(5);
  });

  it('counts hard links and devices created', () => {
    expect(parseItemized('hf+++++++++ 3 hard\ncD+++++++++ 0 dev\ncS+++++++++ 0 sock\n').sent).toBe(3);
  });

  it('counts a mode, owner or group change as sent (chmod +x is a change), a time-only change not', () => {
    const counts = parseItemized('.f...p..... 2 chmodded\n.L..t...... 1 link\n.f..t...... 5 touched\n.f....o.... 3 chowned\n');
    expect(counts.sent).toBe(2);
    expect(counts.bytes).toBe(0);
    expect(counts.lines).toEqual(['.f...p..... chmodded', '.L..t...... link', '.f..t...... touched', '.f....o.... chowned']);
  });

  it('counts every deletion as --max-delete does, directories included: the refusal and the per-target line mean one thing', () => {
    const counts = parseItemized('*deleting   4 a/b.html\n*deleting   0 a/\n*deleting   1 c\n');
    expect(counts.deleted).toBe(3);
  });

  it('notices rsync stopping at --max-delete, and what --debug=FILTER says it protected', () => {
    const counter = new ItemCounter(false);
    for (const line of ['[generator] protecting directory blog/uploads because of pattern uploads/', 'Deletions stopped due to --max-delete limit (3 skipped)']) counter.add(line);
    expect(counter.protectedNames).toEqual(['blog/uploads']);
    expect(counter.maxDeleteStop).toBe('Deletions stopped due to --max-delete limit (3 skipped)');
  });

  it('skips rsync chatter that is not an itemized line', () => {
    const stdout = [
      'sending incremental file list',
      'created directory /srv/mirror/www',
      '',
      'sent 1,234 bytes  received 56 bytes  2,580.00 bytes/sec',
      'total size is 9,876  speedup is 7.65',
      '>f+++++++++ 4 real',
    ].join('\n');
    const counts = parseItemized(stdout);
    expect([counts.sent, counts.deleted, counts.bytes, counts.lines]).toEqual([1, 0, 4, ['>f+++++++++ real']]);
  });

  it('reads nothing from empty output', () => {
    const counts = parseItemized('');
    expect([counts.sent, counts.deleted, counts.bytes, counts.lines]).toEqual([0, 0, 0, []]);
  });

  it('keeps rsync-escaped names as printed', () => {
    expect(parseItemized('>f+++++++++ 1 line\\#012break\n').lines).toEqual(['>f+++++++++ line\\#012break']);
  });
});

describe('ItemCounter', () => {
  it('counts line by line, keeping no lines unless asked', () => {
    const counter = new ItemCounter(false);
    for (const line of ['>f+++++++++ 2 a', 'cd+++++++++ 4096 dir/', '*deleting   0 old.html', 'cL+++++++++ 1 link']) counter.add(line);
    expect([counter.sent, counter.deleted, counter.bytes]).toEqual([2, 1, 2]);
    expect(counter.lines).toEqual([]);
  });

  it('keeps lines when asked', () => {
    const counter = new ItemCounter(true);
    counter.add('>f+++++++++ 2 a');
    expect(counter.lines).toEqual(['>f+++++++++ a']);
  });
});
