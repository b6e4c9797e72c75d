import { describe, expect, it } from 'vitest';
import { gitEnv, inQuarantine, parseRawDiff } from '../../../src/base/git.js';

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

describe('gitEnv in the pre-receive hook: the quarantine passes through, and only for this repository', () => {
  const repo = '/srv/git/site.git';
  const quarantine = { GIT_QUARANTINE_PATH: `${repo}/./objects/tmp_objdir-incoming-x1`, GIT_OBJECT_DIRECTORY: `${repo}/./objects/tmp_objdir-incoming-x1`, GIT_ALTERNATE_OBJECT_DIRECTORIES: `${repo}/./objects`, PATH: '/usr/bin' };

  it('passes the object directories when git holds a push of this repository in quarantine', () => {
    expect(inQuarantine(repo, quarantine)).toBe(true);
    expect(gitEnv(repo, quarantine)).toMatchObject({ GIT_DIR: repo, GIT_OBJECT_DIRECTORY: quarantine.GIT_OBJECT_DIRECTORY, GIT_ALTERNATE_OBJECT_DIRECTORIES: quarantine.GIT_ALTERNATE_OBJECT_DIRECTORIES });
  });

  it('passes nothing of another repository, or outside a hook', () => {
    expect(inQuarantine('/srv/git/other.git', quarantine)).toBe(false);
    expect(gitEnv('/srv/git/other.git', quarantine)).not.toHaveProperty('GIT_OBJECT_DIRECTORY');
    expect(gitEnv(repo, { PATH: '/usr/bin', GIT_OBJECT_DIRECTORY: '/tmp/elsewhere' })).not.toHaveProperty('GIT_OBJECT_DIRECTORY');
  });
});
