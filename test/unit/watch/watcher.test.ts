import { describe, expect, it } from 'vitest';
import { DEFAULT_WATCH_IGNORE } from '../../../src/base/config.js';
import { ignoredByWatch, parseEvents } from '../../../src/watch/watcher.js';

describe('parseEvents', () => {
  it('reads NUL-ended records into event names and source-relative paths, keeping the tail', () => {
    const text = 'CLOSE_WRITE,CLOSE /srv/www/a b.html\0CREATE,ISDIR /srv/www/new\ndir\0MOVED_FROM /srv/www/-x\0DELETE /srv/w';
    const { events, rest } = parseEvents(text, '/srv/www');
    expect(events).toEqual([
      { events: ['CLOSE_WRITE', 'CLOSE'], path: 'a b.html' },
      { events: ['CREATE', 'ISDIR'], path: 'new\ndir' },
      { events: ['MOVED_FROM'], path: '-x' },
    ]);
    expect(rest).toBe('DELETE /srv/w');
  });

  it('keeps names as bytes, and a name beginning with ".." inside the source as it is', () => {
    const latin1 = Buffer.from('CLOSE_WRITE,CLOSE /srv/www/caf\xe9.html\0', 'latin1').toString('latin1');
    const { events } = parseEvents(`${latin1}CREATE /srv/www/..hotfix.html\0MODIFY /srv/wwwx/a\0`, '/srv/www');
    expect(events).toEqual([
      { events: ['CLOSE_WRITE', 'CLOSE'], path: 'caf\xe9.html' },
      { events: ['CREATE'], path: '..hotfix.html' },
      { events: ['MODIFY'], path: '' },
    ]);
  });

  it('an event on the source itself, or outside it, has an empty path; an overflow keeps its name', () => {
    const { events } = parseEvents('ATTRIB,ISDIR /srv/www/\0Q_OVERFLOW \0', '/srv/www');
    expect(events).toEqual([
      { events: ['ATTRIB', 'ISDIR'], path: '' },
      { events: ['Q_OVERFLOW'], path: '' },
    ]);
  });
});

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
