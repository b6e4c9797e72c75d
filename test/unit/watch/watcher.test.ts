import { describe, expect, it } from 'vitest';
import { DEFAULT_WATCH_IGNORE } from '../../../src/base/config.js';
import { ignoredByWatch } from '../../../src/watch/watcher.js';

describe('ignoredByWatch', () => {
  const ignore = [...DEFAULT_WATCH_IGNORE];

  it('ignores editor temp files by their name, wherever they are', () => {
    for (const p of ['.index.html.swp', 'css/.site.css.swx', 'page.html~', '.#page.html', '#page.html#', '4913', 'a/b/.x.kate-swp']) {
      expect(ignoredByWatch(p, ignore), p).toBe(true);
    }
  });

  it('lets real files through; patterns match the whole name, dots are literal', () => {
    for (const p of ['index.html', 'swp/page.html', '49134', 'a.swpfile', 'x.tmp']) expect(ignoredByWatch(p, ignore), p).toBe(false);
    expect(ignoredByWatch('aXb', ['a.b'])).toBe(false);
    expect(ignoredByWatch('a.b', ['a?b'])).toBe(true);
  });
});
