import { describe, expect, it } from 'vitest';
import { displayPath, pathProblem, relPathBytes, relPathFromBytes, shortPath } from '../../../src/base/paths.js';

describe('pathProblem: what fanout refuses to act on (invariant 8)', () => {
  it('accepts ordinary and awkward names', () => {
    for (const p of ['index.html', 'a/b/c.txt', '..hotfix.html', '.well-known/x', 'with space', 'new\nline', '#notes.html', ';x', '-dash', '.gitignore', 'a/.gitkeep', 'n'.repeat(255)]) {
      expect(pathProblem(p), p).toBeUndefined();
    }
  });

  it('refuses empty, dot and dot-dot components, a leading slash and .git in any case', () => {
    expect(pathProblem('')).toBe('an empty path');
    expect(pathProblem('/etc/passwd')).toBe('an absolute path');
    expect(pathProblem('a//b')).toBe('an empty path component');
    expect(pathProblem('a/')).toBe('an empty path component');
    expect(pathProblem('./a')).toBe('a "." component');
    expect(pathProblem('../x')).toBe('a ".." component');
    expect(pathProblem('a/../../x')).toBe('a ".." component');
    expect(pathProblem('.git/config')).toBe('a ".git" component');
    expect(pathProblem('sub/.GIT/hooks/post-receive')).toBe('a ".git" component');
  });

  it('refuses a name over 255 bytes and a path over 4095, counting bytes, not characters', () => {
    expect(pathProblem('n'.repeat(256))).toBe('a name of 256 bytes (the limit is 255)');
    // 128 two-byte characters: 256 bytes
    expect(pathProblem(relPathFromBytes(Buffer.from('é'.repeat(128))))).toBe('a name of 256 bytes (the limit is 255)');
    expect(pathProblem(`${'a/'.repeat(2048)}f`)).toBe('a path of 4097 bytes (the limit is 4095)');
    expect(pathProblem(`${'a/'.repeat(2046)}f`)).toBeUndefined();
  });

  it("refuses rsync's own staging directory name", () => {
    expect(pathProblem('.~tmp~/page.html')).toMatch(/^a "\.~tmp~" component/);
    expect(pathProblem('a/.~tmp~')).toMatch(/^a "\.~tmp~" component/);
  });
});

describe('names for people', () => {
  it('shows UTF-8 as it is, other bytes as \\xNN, control characters escaped', () => {
    expect(displayPath(relPathFromBytes(Buffer.from('ünï/日本.html')))).toBe('ünï/日本.html');
    expect(displayPath(relPathFromBytes(Buffer.from([0x63, 0x61, 0x66, 0xe9])))).toBe('caf\\xe9');
    expect(displayPath('new\nline')).toBe('new\\nline');
  });

  it('shortens a long path for a one-line message', () => {
    const shown = shortPath('n'.repeat(4096));
    expect(shown.length).toBeLessThan(130);
    expect(shown).toMatch(/\.\.\.\(4096 bytes\)$/);
  });

  it('round-trips any bytes', () => {
    const bytes = Buffer.from([0, 1, 0x7f, 0x80, 0xff, 0x2f]);
    expect(relPathBytes(relPathFromBytes(bytes)).equals(bytes)).toBe(true);
  });
});
