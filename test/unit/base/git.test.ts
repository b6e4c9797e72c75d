import { describe, expect, it } from 'vitest';
import { parseRawDiff } from '../../../src/base/git.js';

describe('parseRawDiff', () => {
  it('reads status, path and the new blob, any file name intact', () => {
    const blob = 'b'.repeat(40);
    const zero = '0'.repeat(40);
    const out = `:100644 100755 ${'a'.repeat(40)} ${blob} M\0bin/run me.sh\0:100644 000000 ${'c'.repeat(40)} ${zero} D\0old\nname.html\0:000000 120000 ${zero} ${blob} A\0-link\0`;
    expect(parseRawDiff(out)).toEqual([
      { status: 'M', path: 'bin/run me.sh', entry: { mode: '100755', blob }, before: { mode: '100644', blob: 'a'.repeat(40) } },
      { status: 'D', path: 'old\nname.html', before: { mode: '100644', blob: 'c'.repeat(40) } },
      { status: 'A', path: '-link', entry: { mode: '120000', blob } },
    ]);
  });

  it('reads nothing from empty output', () => {
    expect(parseRawDiff('')).toEqual([]);
  });
});
