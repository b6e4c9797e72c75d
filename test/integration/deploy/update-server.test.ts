import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, GIT_IDENTITY, createFarm, type Farm } from '../../../harness/farm.js';
import { diffSnapshots, snapshot, snapshotCommit } from '../../../harness/tree.js';
import { startWatch, until } from '../../../harness/watcher.js';

// The update server against someone who may push content, write the source, or act as the git
// user, and wants more: files removed outside the source, a command run, all deploys stopped.
// Crafted trees come from git mktree and git fast-import, pushed with a real git push.

let farm: Farm;
let victim: string;

const asRoot = process.getuid?.() === 0;

beforeAll(async () => {
  farm = await createFarm({ targets: 2, firstHost: 140, config: { retryDelay: 0.2 } });
  // an existing repository, set up before fanout turned receive.fsckObjects on: git lets a crafted tree in
  await execa('git', ['--git-dir', farm.repo, 'config', 'receive.fsckObjects', 'false']);
  victim = path.join(farm.root, 'victim');
  fs.mkdirSync(path.join(victim, 'x'), { recursive: true });
  fs.writeFileSync(path.join(victim, 'x', 'keep.txt'), 'must survive');
  farm.write({ 'index.html': 'home', 'media/p1.jpg': 'photo', 'd/x': 'plain' });
  await farm.commit('site');
  await farm.push();
});

afterAll(async () => {
  await farm.cleanup();
});

async function inClone(args: string[], input?: string): Promise<string> {
  const result = await execa('git', args, { cwd: farm.clone, env: GIT_IDENTITY, input: input ?? '' });
  return result.stdout.trim();
}

/** A commit whose tree is `entries` (mktree lines: "mode type sha\tname"), on top of HEAD, pushed to main. */
async function pushTree(entries: string[], message: string): Promise<{ commit: string; stderr: string }> {
  const tree = await inClone(['mktree', '--missing'], `${entries.join('\n')}\n`);
  const commit = await inClone(['commit-tree', tree, '-p', 'HEAD', '-m', message]);
  await inClone(['reset', '-q', '--soft', commit]);
  const push = await execa('git', ['push', '-f', 'origin', 'HEAD:main'], { cwd: farm.clone, env: GIT_IDENTITY, reject: false });
  return { commit, stderr: push.stderr };
}

async function blob(content: string): Promise<string> {
  return inClone(['hash-object', '-w', '--stdin'], content);
}

/** HEAD's top-level entries as mktree lines, less the names given. */
async function headEntries(...without: string[]): Promise<string[]> {
  const lines = (await inClone(['ls-tree', 'HEAD'])).split('\n').filter((l) => l !== '');
  return lines.filter((l) => !without.includes(l.slice(l.indexOf('\t') + 1)));
}

/** A commit on top of HEAD with one more file, written by fast-import (any name, any depth), pushed to main. */
async function pushFile(name: string, message: string): Promise<string> {
  const head = await inClone(['rev-parse', 'HEAD']);
  const stream = `commit refs/heads/crafted\ncommitter T <t@example.invalid> 0 +0000\ndata ${message.length}\n${message}\nfrom ${head}\nM 100644 inline ${name}\ndata 3\nbad\n\n`;
  await execa('git', ['fast-import', '--quiet'], { cwd: farm.clone, input: stream });
  // --soft: the clone's own file system could not hold such a name either
  await inClone(['reset', '-q', '--soft', 'crafted']);
  const push = await execa('git', ['push', '-f', 'origin', 'HEAD:main'], { cwd: farm.clone, env: GIT_IDENTITY, reject: false });
  return push.stderr;
}

/** Back to a good tree (HEAD less what was crafted), pushed; every target must then equal it. */
async function recover(...crafted: string[]): Promise<void> {
  await pushTree(await headEntries(...crafted), 'recover');
  const commit = await inClone(['rev-parse', 'HEAD']);
  const expected = await snapshotCommit(farm.repo, commit, farm.root);
  for (const d of farm.daemons) expect(diffSnapshots(expected, snapshot(d.dir)), d.name).toEqual([]);
}

function state(): string {
  return fs.readFileSync(path.join(farm.stateDir, 'state.json'), 'utf8');
}


describe('crafted trees and names are refused before anything is touched', () => {
  it('a tree with an entry named ".." is refused with one line; nothing outside the source is removed, nothing recorded', async () => {
    const inside = await inClone(['mktree'], `100644 blob ${await blob('x')}\tkeep.txt\n`);
    const victimTree = await inClone(['mktree'], `040000 tree ${inside}\tx\n`);
    const before = farm.holdings();
    const { stderr } = await pushTree([...(await headEntries()), `040000 tree ${victimTree}\t..`], 'dot dot');
    expect(stderr).toMatch(/remote: fanout: commit [0-9a-f]{10} names a "\.\." component: "\.\.\/x\/keep\.txt"; refusing to deploy it, nothing was touched/);
    expect(fs.readFileSync(path.join(victim, 'x', 'keep.txt'), 'utf8')).toBe('must survive');
    expect(farm.holdings()).toEqual(before);
    const deploy = await farm.fanout(['deploy']);
    expect(deploy.exitCode).toBe(2);
    expect(deploy.stderr.trim().split('\n')).toHaveLength(1);
    await recover('..');
  });

  it('a tree with a symlink d -> elsewhere and a directory d/ beside it is refused; nothing is removed through the link', async () => {
    const sub = await inClone(['mktree'], `100644 blob ${await blob('changed')}\tkeep.txt\n`);
    const link = await blob(path.join(victim, 'x'));
    const { stderr } = await pushTree([...(await headEntries('d')), `120000 blob ${link}\td`, `040000 tree ${sub}\td`], 'same name twice');
    expect(stderr).toMatch(/remote: fanout: commit [0-9a-f]{10} has entries below "d", which is not a directory in it \(a tree with the same name twice\); refusing to deploy it/);
    expect(fs.readFileSync(path.join(victim, 'x', 'keep.txt'), 'utf8')).toBe('must survive');
    expect(fs.lstatSync(path.join(farm.source, 'd')).isDirectory()).toBe(true);
    await recover('d');
  });

  it('a 4,096-byte name, and a path 2,100 directories deep, are refused in one short line; the next good push deploys', async () => {
    const long = await pushFile('n'.repeat(4096), 'long name');
    expect(long).toMatch(/remote: fanout: commit [0-9a-f]{10} names a name of 4096 bytes \(the limit is 255\): "n{20,}\.\.\.\(4096 bytes\)"; refusing/);
    expect(long).not.toContain('n'.repeat(200));
    expect(long).not.toContain('internal error');
    await recover('n'.repeat(4096));

    const deep = await pushFile(`${'a/'.repeat(2100)}f`, 'deep path');
    expect(deep).toMatch(/remote: fanout: commit [0-9a-f]{10} names a path of 4201 bytes \(the limit is 4095\)/);
    await recover('a');
    // later deploys are unaffected: a good change goes out
    farm.write({ 'index.html': 'after the refusals' });
    await farm.commit('good');
    const push = await farm.push();
    for (const d of farm.daemons) expect(push.stderr).toMatch(new RegExp(`remote: +${d.name} +ok `));
  });

  /** `www/media` moved by hand to another disk (`name` under the farm), a symlink in its place, holding `file`. */
  function mediaMovedTo(name: string, file: string): string {
    const disk = path.join(farm.root, name);
    fs.mkdirSync(disk);
    fs.writeFileSync(path.join(disk, file), 'on the other disk');
    fs.rmSync(path.join(farm.source, 'media'), { recursive: true });
    fs.symlinkSync(disk, path.join(farm.source, 'media'));
    return disk;
  }

  it('a symlink made by hand in the source is never removed or written through', async () => {
    const disk = mediaMovedTo('disk-media', 'p1.jpg');
    farm.write({ 'media/p1.jpg': 'new photo' });
    await farm.commit('new photo');
    const push = await farm.push();
    expect(push.stderr).toMatch(/remote: fanout: .*\/www\/media is a symlink git does not have there; fanout removes and writes nothing through one: remove it/);
    expect(fs.readFileSync(path.join(disk, 'p1.jpg'), 'utf8')).toBe('on the other disk');
    fs.rmSync(path.join(farm.source, 'media'));
    expect((await farm.fanout(['deploy'])).exitCode).toBe(0);
    for (const d of farm.daemons) expect(fs.readFileSync(path.join(d.dir, 'media/p1.jpg'), 'utf8')).toBe('new photo');
  });

  it('sync --full, and verify, refuse a symlink made by hand where git has a directory; nothing on a target is touched, status says why, the next deploy rebuilds the source', async () => {
    const disk = mediaMovedTo('media-elsewhere', 'elsewhere.jpg');
    const [, web2] = farm.daemons;
    if (web2 === undefined) throw new Error('two daemons expected');
    // what git has there (another case of this file may have changed it)
    const photo = fs.readFileSync(path.join(web2.dir, 'media/p1.jpg'), 'utf8');
    const sync = await farm.fanout(['sync', '--full', '--target', 'web2']);
    expect(sync.exitCode).toBe(1);
    expect(sync.stderr).toMatch(/.*\/www\/media is a symlink git does not have there; fanout removes and writes nothing through one: remove it/);
    expect(fs.lstatSync(path.join(web2.dir, 'media')).isDirectory()).toBe(true);
    expect(fs.readFileSync(path.join(web2.dir, 'media/p1.jpg'), 'utf8')).toBe(photo);
    // verify names the source, not the targets, as what is wrong; status says it too
    const verify = await farm.fanout(['verify']);
    expect(verify.exitCode).toBe(1);
    expect(verify.stderr).toMatch(/\/www\/media is a symlink git does not have there/);
    const status = await farm.fanout(['status']);
    expect(status.exitCode).toBe(1);
    expect(status.stdout).toMatch(/\/www\/media is a symlink git does not have there/);
    // the recovery docs/operations/failure-modes.md gives: remove the link, deploy again
    fs.rmSync(path.join(farm.source, 'media'));
    expect((await farm.fanout(['deploy'])).exitCode).toBe(0);
    expect(fs.readFileSync(path.join(farm.source, 'media/p1.jpg'), 'utf8')).toBe(photo);
    expect((await farm.fanout(['verify'])).exitCode).toBe(0);
    expect((await farm.fanout(['status'])).exitCode).toBe(0);
    expect(fs.readFileSync(path.join(disk, 'elsewhere.jpg'), 'utf8')).toBe('on the other disk');
  });

  it('fanout init turns receive.fsckObjects on; doctor reports it off', async () => {
    const doctor = await farm.fanout(['doctor']);
    expect(doctor.stdout).toMatch(/problem +pushed objects checked +.*receive\.fsckObjects is off.*fix: git --git-dir .* config receive\.fsckObjects true/);
    const fresh = path.join(farm.root, 'fresh.yaml');
    const init = await execa(process.execPath, [CLI, '--config', fresh, 'init', '--repo', path.join(farm.root, 'fresh.git'), '--source', path.join(farm.root, 'fresh-www')], { reject: false });
    expect(init.exitCode, init.stderr).toBe(0);
    expect((await execa('git', ['--git-dir', path.join(farm.root, 'fresh.git'), 'config', 'receive.fsckObjects'])).stdout).toBe('true');
  });
});

describe('the journal and the state directory', () => {
  it('a truncated state.json makes every tree untraceable: full passes remove what the commit lacks', async () => {
    farm.write({ 'old.html': 'soon gone' });
    await farm.commit('old');
    await farm.push();
    farm.remove('old.html');
    const commit = await farm.commit('drop old');
    fs.writeFileSync(path.join(farm.stateDir, 'state.json'), state().slice(0, 40));
    const push = await farm.push();
    expect(push.stderr).toMatch(/remote: warning: .*state\.json is not a valid journal \(not JSON: .*\); the source and every target are treated as untraceable: each gets a full pass that removes what the commit lacks/);
    for (const d of farm.daemons) expect(push.stderr).toMatch(new RegExp(`remote: +${d.name} +ok .*\\(full pass\\)`));
    expect(fs.existsSync(path.join(farm.source, 'old.html'))).toBe(false);
    const expected = await snapshotCommit(farm.repo, commit, farm.root);
    for (const d of farm.daemons) expect(diffSnapshots(expected, snapshot(d.dir)), d.name).toEqual([]);
    expect((await farm.fanout(['verify'])).exitCode).toBe(0);
  });

  it('a commit value that is not a sha is never passed to git (it would be read as an option)', async () => {
    const out = path.join(farm.root, 'written-by-git');
    const journal = JSON.parse(state()) as { targets: Record<string, { commit: string }> };
    for (const t of Object.values(journal.targets)) t.commit = `--output=${out}`;
    fs.writeFileSync(path.join(farm.stateDir, 'state.json'), JSON.stringify(journal));
    farm.write({ 'index.html': 'again' });
    await farm.commit('again');
    const push = await farm.push();
    expect(push.stderr).toMatch(/not a valid journal \(targets\.web1\.commit: not a full commit id\)/);
    expect(fs.existsSync(out)).toBe(false);
    expect((await farm.fanout(['status'])).exitCode).toBe(0);
  });

  it('symlinks planted in the state directory are never written through', async () => {
    const lockVictim = path.join(farm.root, 'lock-victim');
    const logVictim = path.join(farm.root, 'log-victim');
    fs.writeFileSync(lockVictim, 'precious 1');
    fs.writeFileSync(logVictim, 'precious 2');
    const lock = path.join(farm.stateDir, 'lock');
    const log = path.join(farm.stateDir, 'fanout.log');
    fs.renameSync(lock, `${lock}.real`);
    fs.symlinkSync(lockVictim, lock);
    try {
      const deploy = await farm.fanout(['deploy']);
      expect(deploy.exitCode).toBe(2);
      expect(deploy.stderr).toMatch(/fanout: .*\/lock is a symlink; fanout never writes through one there: remove it/);
      fs.rmSync(lock);
      fs.renameSync(log, `${log}.real`);
      fs.symlinkSync(logVictim, log);
      const again = await farm.fanout(['deploy']);
      expect(again.exitCode).toBe(2);
      expect(again.stderr).toMatch(/fanout\.log is a symlink/);
    } finally {
      fs.rmSync(lock, { force: true });
      fs.rmSync(log, { force: true });
      fs.renameSync(`${log}.real`, log);
    }
    expect(fs.readFileSync(lockVictim, 'utf8')).toBe('precious 1');
    expect(fs.readFileSync(logVictim, 'utf8')).toBe('precious 2');
    expect((await farm.fanout(['deploy'])).exitCode).toBe(0);
  });
});

describe.runIf(asRoot)('files another account can write are refused (users made here with useradd, removed after)', () => {
  const other = `fanout-t${process.pid % 100000}`;

  beforeAll(async () => {
    await execa('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', other]);
  });

  afterAll(async () => {
    await execa('userdel', [other], { reject: false });
  });

  it('the hook refuses a config owned by another account in a world-writable directory reached through a symlink, and runs nothing from it', async () => {
    const shared = path.join(farm.root, 'shared');
    fs.mkdirSync(shared, { mode: 0o777 });
    fs.chmodSync(shared, 0o777);
    const mark = path.join(farm.root, 'ran-as-root');
    const evil = path.join(shared, 'rsync');
    fs.writeFileSync(evil, `#!/bin/sh\ntouch ${mark}\n`, { mode: 0o755 });
    const config = path.join(shared, 'fanout.yaml');
    const good = fs.readFileSync(farm.configFile, 'utf8');
    fs.writeFileSync(config, `${good}rsync:\n  path: ${evil}\n`, { mode: 0o644 });
    await execa('chown', [other, config, evil]);
    fs.renameSync(farm.configFile, `${farm.configFile}.real`);
    fs.symlinkSync(config, farm.configFile);
    try {
      farm.write({ 'index.html': 'through the shared config' });
      await farm.commit('shared');
      const push = await farm.push();
      expect(push.stderr).toMatch(new RegExp(`remote: fanout: config .*: .*shared/fanout\\.yaml \\(the target of .*fanout\\.yaml\\) belongs to ${other}, not to root; refusing to use it`));
      expect(fs.existsSync(mark)).toBe(false);
    } finally {
      fs.rmSync(farm.configFile);
      fs.renameSync(`${farm.configFile}.real`, farm.configFile);
    }
    expect((await farm.fanout(['deploy'])).exitCode).toBe(0);
  });

  it('a state directory that belongs to another account is refused, with the command that runs fanout as its owner', async () => {
    await execa('chown', [other, farm.stateDir]);
    try {
      const status = await farm.fanout(['status']);
      expect(status.exitCode).toBe(2);
      expect(status.stderr).toMatch(new RegExp(`state directory .* belongs to ${other}, not to root; refusing to write there; run fanout as that user instead: sudo -u ${other} fanout`));
    } finally {
      await execa('chown', ['root', farm.stateDir]);
    }
  });
});

describe('what the hook inherits from the pusher', () => {
  it('rsync gets a minimal environment (RSYNC_CONNECT_PROG runs nothing) and a fixed umask (000 gives no world-writable files)', async () => {
    const mark = path.join(farm.root, 'connect-prog-ran');
    farm.write({ 'fresh/page.html': 'umask' });
    await farm.commit('umask');
    const push = await execa('sh', ['-c', 'umask 000 && exec git push origin HEAD:main'], {
      cwd: farm.clone,
      env: { ...GIT_IDENTITY, RSYNC_CONNECT_PROG: `touch ${mark}`, RSYNC_RSH: `touch ${mark}` },
      reject: false,
    });
    for (const d of farm.daemons) expect(push.stderr).toMatch(new RegExp(`remote: +${d.name} +ok `));
    expect(fs.existsSync(mark)).toBe(false);
    for (const d of farm.daemons) {
      expect(fs.statSync(path.join(d.dir, 'fresh/page.html')).mode & 0o777, d.name).toBe(0o644);
      expect(fs.statSync(path.join(d.dir, 'fresh')).mode & 0o777, d.name).toBe(0o755);
    }
  });
});

describe('watch walks what appears with lstat, never through a symlink', () => {
  it('a directory moved in holding loop -> .. is a few paths, not a walk without end', async () => {
    const watcher = await startWatch(farm.configFile);
    try {
      const outside = path.join(farm.root, 'incoming');
      fs.mkdirSync(path.join(outside, 'sub'), { recursive: true });
      fs.writeFileSync(path.join(outside, 'sub', 'page.html'), 'moved in');
      fs.symlinkSync('..', path.join(outside, 'sub', 'loop'));
      fs.renameSync(outside, path.join(farm.source, 'incoming'));
      await until(
        () => farm.daemons.every((d) => fs.existsSync(path.join(d.dir, 'incoming/sub/page.html'))) && watcher.lines.some((l) => /^batch \d+: \d+ paths? -> /.test(l)),
        () => `not arrived: ${watcher.lines.join('\n')}`,
      );
      for (const d of farm.daemons) expect(fs.readlinkSync(path.join(d.dir, 'incoming/sub/loop'))).toBe('..');
      const batch = watcher.lines.find((l) => /^batch \d+: \d+ paths? -> /.test(l));
      expect(Number(/^batch \d+: (\d+) path/.exec(batch ?? '')?.[1]), watcher.lines.join('\n')).toBeLessThan(10);
    } finally {
      await watcher.stop();
      // the farm is shared by this file's cases, which run in any order: leave it as the commit has it
      fs.rmSync(path.join(farm.source, 'incoming'), { recursive: true, force: true });
      await farm.fanout(['sync', '--full']);
    }
    for (const d of farm.daemons) expect(fs.existsSync(path.join(d.dir, 'incoming'))).toBe(false);
  });
});
