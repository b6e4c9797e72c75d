import { describe, expect, it } from 'vitest';
import { filesFromList } from '../../../src/transport/rsync-pass.js';

describe('filesFromList', () => {
  const text = (buffer: Buffer): string => buffer.toString('latin1');

  it('writes every path as ./path, NUL-terminated, so that none reads as a comment', () => {
    expect(text(filesFromList({ kind: 'send', paths: ['a', 'b/c', '#notes.html', ';x'] }))).toBe('./a\0./b/c\0./#notes.html\0./;x\0');
    expect(text(filesFromList({ kind: 'send', paths: [] }))).toBe('');
  });

  it('writes a directory to prune with a trailing slash, the top as ./', () => {
    expect(text(filesFromList({ kind: 'prune', directories: ['.', 'docs', 'a b/c'] }))).toBe('./\0./docs/\0./a b/c/\0');
  });

  it('keeps awkward names byte-exact, names that are not UTF-8 included', () => {
    const names = ['with space.html', 'line\nbreak', 'tab\there', `quote's "double"`, '-leading-dash', '--delete', 'café/naïve.html', '日本語.txt', 'back\\slash', '*?[glob]', 'trailing space '];
    const raw = [...names.map((n) => Buffer.from(n, 'utf8')), Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x2e, 0x68])];
    const list = filesFromList({ kind: 'send', paths: raw.map((b) => b.toString('latin1')) });
    const expected = Buffer.concat(raw.map((n) => Buffer.concat([Buffer.from('./'), n, Buffer.from([0])])));
    expect(list.equals(expected)).toBe(true);
  });
});
