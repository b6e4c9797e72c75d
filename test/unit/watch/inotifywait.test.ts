import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { exitWhy, inotifywaitArgs, parseEvents, startInotifywait, type InotifyChild, type StartResult, type WatchEvent } from '../../../src/watch/inotifywait.js';

/** inotifywait as the module sees it: two streams it writes, an exit it reaches, the signals sent. */
function fakeChild() {
  let exit: (result: { exitCode?: number; signal?: string }) => void = () => undefined;
  const exited = new Promise<{ exitCode?: number; signal?: string }>((resolve) => {
    exit = resolve;
  });
  const signals: string[] = [];
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const child: InotifyChild = { stdout, stderr, exited, kill: (signal) => signals.push(signal) };
  return { child, stdout, stderr, exit, signals };
}

/** Lets the streams deliver what was written, and the exit be seen. */
async function settle(): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
}

/** A run on /srv/www over a fake child, with everything it told its handlers kept. */
function start() {
  const { child, stdout, stderr, exit, signals } = fakeChild();
  const spawned: string[][] = [];
  const events: WatchEvent[] = [];
  const lost: string[] = [];
  const died: string[] = [];
  let result: StartResult | undefined;
  const run = startInotifywait('/srv/www', { event: (e) => events.push(e), lostWatch: (d) => lost.push(d), died: (why) => died.push(why) }, (args) => {
    spawned.push(args);
    return child;
  });
  void run.started.then((r) => {
    result = r;
  });
  return { run, child: { stdout, stderr }, exit, signals, spawned, events, lost, died, started: () => result };
}

describe('startInotifywait', () => {
  it('runs inotifywait recursively, forever, for the events that change what is served, NUL-ended', () => {
    const { spawned } = start();
    expect(spawned).toEqual([['-m', '-r', '--format', '%e %w%f%0', '--no-newline', '-e', 'modify,attrib,close_write,create,delete,moved_from,moved_to,delete_self', '/srv/www']]);
    expect(inotifywaitArgs('/srv/www')).toEqual(spawned[0]);
  });

  it('is started once its watches are set up; then its records are events, a record cut between reads included', async () => {
    const { child, events, started } = start();
    child.stderr.write('Setting up watches.  Beware: since -r was given, this may take a while!\n');
    await settle();
    expect(started()).toBeUndefined();
    child.stderr.write('Watches established.\n');
    await settle();
    expect(started()).toEqual({ ok: true });
    child.stdout.write('CLOSE_WRITE,CLOSE /srv/www/a.html\0CREATE /srv/www/caf');
    child.stdout.write(Buffer.from([0xe9]));
    child.stdout.write('.html\0');
    await settle();
    expect(events).toEqual([
      { events: ['CLOSE_WRITE', 'CLOSE'], path: 'a.html' },
      { events: ['CREATE'], path: 'caf\xe9.html' },
    ]);
  });

  it('names each directory it could not watch, by its bytes, a line cut between reads included', async () => {
    const { child, lost } = start();
    child.stderr.write('Watches established.\nCouldn\'t watch new directory /srv/www/n');
    child.stderr.write(Buffer.from([0xe9, 0x2f]));
    child.stderr.write(': No space left on device\n');
    await settle();
    expect(lost).toEqual(['/srv/www/n\xe9/']);
  });

  it('an exit before the watches are set up is a failed start, with why and whether the limit was reached; no death', async () => {
    const { child, exit, died, started } = start();
    child.stderr.write('Setting up watches.  Beware: since -r was given, this may take a while!\nFailed to watch /srv/www; upper limit on inotify watches reached!\nPlease increase the amount of inotify watches allowed per user via `/proc/sys/fs/inotify/max_user_watches\'.\n');
    await settle();
    exit({ exitCode: 1 });
    await settle();
    expect(started()).toEqual({ ok: false, why: 'Failed to watch /srv/www; upper limit on inotify watches reached!', limit: true });
    expect(died).toEqual([]);
  });

  it('an exit after the watches were set up is a death, in its own words', async () => {
    const { child, exit, died, started } = start();
    child.stderr.write('Watches established.\n');
    await settle();
    exit({ signal: 'SIGKILL' });
    await settle();
    expect(started()).toEqual({ ok: true });
    expect(died).toEqual(['exit SIGKILL']);
  });

  it('kill sends SIGTERM', () => {
    const { run, signals } = start();
    run.kill();
    expect(signals).toEqual(['SIGTERM']);
  });
});

describe('exitWhy', () => {
  it('the "Failed to watch" line, else the last line it said, else its exit code or signal', () => {
    expect(exitWhy('Setting up watches.\nFailed to watch /a; upper limit\nPlease increase\n', { exitCode: 1 })).toBe('Failed to watch /a; upper limit');
    expect(exitWhy("Setting up watches.\nCouldn't watch /a: No such file or directory\n", { exitCode: 1 })).toBe("Couldn't watch /a: No such file or directory");
    expect(exitWhy('Setting up watches.\nWatches established.\n', { exitCode: 3 })).toBe('exit 3');
    expect(exitWhy('Watches established.', { signal: 'SIGKILL' })).toBe('exit SIGKILL');
    expect(exitWhy('Watches established.', {})).toBe('exit ?');
  });
});

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
