import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { HistoryEntry } from '../../../src/engine/journal.js';
import { createFarm, type Farm } from '../../../harness/farm.js';
import { startSshd, type Sshd } from '../../../harness/sshd.js';
import { diffSnapshots, snapshot, snapshotCommit } from '../../../harness/tree.js';
import { startWatch, until } from '../../../harness/watcher.js';

// What fanout must never delete, on a daemon, an ssh and a local target alike (issue: protect,
// exclude and maxDelete hold on every pass). Files "the CMS wrote" are put straight into each
// target's directory: they exist on the web servers and never in git.

let farm: Farm;
let sshd: Sshd;
let sshdRoot: string;
let dirs: Record<string, string>;
/** the site every case starts from, and what its first push said */
let site: string;
let firstPush: string;

const PROTECT = ['uploads/'];
const EXCLUDE = ['*.swp'];

beforeAll(async () => {
  sshdRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'fanout-keep-sshd-'));
  sshd = await startSshd({ hostIndex: 92, root: sshdRoot });
});

afterAll(async () => {
  await sshd.stop();
  fs.rmSync(sshdRoot, { recursive: true, force: true });
});

// each case has a farm of its own with the site on it: none depends on another's files or order
beforeEach(async () => {
  farm = await createFarm({ targets: 1, firstHost: 110 });
  dirs = { web1: farm.daemons[0]?.dir ?? '', edge: path.join(farm.root, 'ssh-www'), local: path.join(farm.root, 'local-www') };
  configure();
  farm.write({ 'index.html': 'home', 'blog/index.html': 'blog', 'blog/post.html': 'post', 'uploads/.gitkeep': '', 'media/index.html': 'm', 'media/a.html': 'a', 'docs/page.html': 'p' });
  site = await farm.commit('site');
  firstPush = (await farm.push()).stderr;
});

afterEach(async () => {
  await farm.cleanup();
});

function configure(extra: Record<string, unknown> = {}): void {
  const daemon = farm.daemons[0];
  if (daemon === undefined) throw new Error('no daemon');
  farm.writeConfig({ protect: PROTECT, exclude: EXCLUDE, ...extra }, [
    { name: 'web1', dest: daemon.dest, passwordFile: daemon.passwordFile },
    { name: 'edge', dest: `${sshd.user}@${sshd.address}:${dirs.edge}/`, ssh: { port: sshd.port, identityFile: sshd.identityFile, knownHostsFile: sshd.knownHostsFile } },
    { name: 'local', dest: `${dirs.local}/` },
  ]);
}

/** Put a file on every target (or the named ones), as a CMS on the web server would. */
function onTargets(rel: string, content: string, names = Object.keys(dirs)): void {
  for (const name of names) {
    const file = path.join(dirs[name] ?? '', rel);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, content);
  }
}

function exists(name: string, rel: string): boolean {
  return fs.existsSync(path.join(dirs[name] ?? '', rel));
}

const KEPT = /(^|\/)uploads(\/|$)|\.swp$/;

/**
 * Each target equals the commit, but for what is protected or excluded (an uploads directory and
 * all below it, *.swp files): those are left out on both sides, and so is a directory on the
 * target that the commit lacks and that holds only such content.
 */
async function expectAt(commit: string, names = Object.keys(dirs)): Promise<void> {
  const expected = await snapshotCommit(farm.repo, commit, farm.root);
  for (const key of [...expected.keys()]) if (KEPT.test(key)) expected.delete(key);
  for (const name of names) {
    const actual = snapshot(dirs[name] ?? '');
    const kept = [...actual.keys()].filter((key) => KEPT.test(key));
    for (const key of kept) actual.delete(key);
    for (const key of [...actual.keys()]) if (!expected.has(key) && kept.some((k) => k.startsWith(`${key}/`))) actual.delete(key);
    expect(diffSnapshots(expected, actual), name).toEqual([]);
  }
}

async function pushOk(): Promise<string> {
  const push = await farm.push();
  for (const name of Object.keys(dirs)) expect(push.stderr, push.stderr).toMatch(new RegExp(`remote: +${name} +ok `));
  return push.stderr;
}

function lastDeploy(): HistoryEntry {
  const entry = farm.history().at(-1);
  if (entry === undefined) throw new Error('no deploy recorded');
  return entry;
}

describe('protect and exclude hold on every pass and every kind of target', () => {
  it('a first push deploys the site to all three targets', async () => {
    for (const name of Object.keys(dirs)) expect(firstPush, firstPush).toMatch(new RegExp(`remote: +${name} +ok `));
    await expectAt(site);
  });

  it('a commit that removes a directory keeps the protected and excluded files the servers wrote inside it', async () => {
    onTargets('blog/uploads/u.jpg', 'cms upload');
    onTargets('blog/draft.swp', 'editor swap file');
    farm.remove('blog');
    const commit = await farm.commit('drop the blog');
    await pushOk();
    for (const name of Object.keys(dirs)) {
      expect(exists(name, 'blog/uploads/u.jpg'), name).toBe(true);
      expect(exists(name, 'blog/draft.swp'), name).toBe(true);
      expect(exists(name, 'blog/index.html'), name).toBe(false);
    }
    await expectAt(commit);
    const verify = await farm.fanout(['verify']);
    expect(verify.exitCode, verify.stdout).toBe(0);
  });

  it('removing the tracked uploads/.gitkeep keeps uploads/photo.jpg, on a push, a rollback and sync --full', async () => {
    onTargets('uploads/photo.jpg', 'a photo');
    const withKeep = (await farm.git(['rev-parse', 'HEAD'])).stdout.trim();
    farm.remove('uploads');
    const commit = await farm.commit('no more .gitkeep');
    await pushOk();
    // the whole protected directory stays, the .gitkeep git no longer has included (as on a full pass)
    for (const name of Object.keys(dirs)) expect(exists(name, 'uploads/photo.jpg'), name).toBe(true);
    await expectAt(commit);

    expect((await farm.fanout(['rollback', withKeep])).exitCode).toBe(0);
    expect((await farm.fanout(['deploy'])).exitCode).toBe(0);
    expect((await farm.fanout(['sync', '--full'])).exitCode).toBe(0);
    for (const name of Object.keys(dirs)) expect(exists(name, 'uploads/photo.jpg'), name).toBe(true);
    await expectAt(commit);
  });

  it('watch, mirroring a directory removed by hand in the source, keeps the protected files inside it', async () => {
    farm.write({ 'gallery/index.html': 'g' });
    const commit = await farm.commit('gallery');
    await pushOk();
    onTargets('gallery/uploads/g.jpg', 'uploaded');
    const watcher = await startWatch(farm.configFile);
    try {
      fs.rmSync(path.join(farm.source, 'gallery'), { recursive: true });
      await until(
        () => Object.keys(dirs).every((name) => !exists(name, 'gallery/index.html')),
        () => `not mirrored: ${watcher.lines.join('\n')}`,
      );
      for (const name of Object.keys(dirs)) expect(exists(name, 'gallery/uploads/g.jpg'), name).toBe(true);
      // put the source back as the commit has it; watch sends it
      fs.mkdirSync(path.join(farm.source, 'gallery'));
      fs.writeFileSync(path.join(farm.source, 'gallery/index.html'), 'g');
      await until(
        () => Object.keys(dirs).every((name) => exists(name, 'gallery/index.html')),
        () => `not mirrored: ${watcher.lines.join('\n')}`,
      );
    } finally {
      await watcher.stop();
    }
    await expectAt(commit);
  });

  it('a directory holding protected files that must become a file fails that target with one line naming it, and nothing there is deleted', async () => {
    // on the daemon and the local target only: the ssh target has nothing to protect there
    onTargets('media/uploads/x.jpg', 'protected', ['web1', 'local']);
    farm.remove('media');
    farm.write({ media: 'now a file' });
    const commit = await farm.commit('media becomes a file');
    const push = await farm.push();
    const line = (name: string): string => push.stderr.split('\n').find((l) => new RegExp(`remote: +${name} +`).test(l)) ?? '';
    expect(line('edge')).toMatch(/ ok /);
    expect(line('web1')).toMatch(/failed +media must become a file, but on this target it is a directory holding protected or excluded content \(protect: uploads\/, exclude: \*\.swp\); nothing was changed on this target/);
    // a local receiver names the protected path itself
    expect(line('local')).toMatch(/failed +media must become a file, but on this target it is a directory holding media\/uploads; nothing was changed/);
    for (const name of ['web1', 'local']) {
      expect(exists(name, 'media/uploads/x.jpg'), name).toBe(true);
      // nothing deleted there: the directory's other files are still served
      expect(exists(name, 'media/index.html'), name).toBe(true);
      expect(exists(name, 'media/a.html'), name).toBe(true);
    }
    await expectAt(commit, ['edge']);
    const status = await farm.fanout(['status']);
    expect(status.exitCode).toBe(1);
    expect(status.stdout).toMatch(/web1 +failed/);
    expect(lastDeploy().targets.find((t) => t.name === 'web1')?.status).toBe('failed');

    // the operator moves the content away; the next deploy goes through
    for (const name of ['web1', 'local']) fs.rmSync(path.join(dirs[name] ?? '', 'media/uploads'), { recursive: true });
    expect((await farm.fanout(['deploy'])).exitCode).toBe(0);
    await expectAt(commit);
  });
});

describe('maxDelete counts what would really be deleted, on every kind of pass', () => {
  it('counts directories too: removing a directory of three files is four deletions', async () => {
    configure({ maxDelete: 3 });
    try {
      farm.write({ 'old/a.html': 'a', 'old/b.html': 'b', 'old/c.html': 'c' });
      await farm.commit('old');
      await pushOk();
      const before = Object.values(dirs).map((d) => snapshot(d));
      farm.remove('old');
      await farm.commit('drop old');
      const push = await farm.push();
      expect(push.stderr).toMatch(/remote: fanout: the deploy would delete 4 files or directories on web1, more than maxDelete \(3\); nothing was touched/);
      Object.values(dirs).forEach((d, i) => {
        expect(snapshot(d)).toEqual(before[i]);
      });

      // a dry run applies the same check and says what the real run would refuse
      const dry = await farm.fanout(['deploy', '--dry-run']);
      expect(dry.exitCode).toBe(2);
      expect(dry.stderr).toMatch(/dry run: the deploy would delete 4 files or directories on web1, more than maxDelete \(3\); the real run would refuse it/);

      expect((await farm.fanout(['deploy', '--max-delete', '4'])).exitCode).toBe(0);
      for (const name of Object.keys(dirs)) expect(exists(name, 'old'), name).toBe(false);
    } finally {
      configure();
    }
  });

  it('a full pass is checked with rsync --dry-run before it starts', async () => {
    onTargets('stray/1.html', '1');
    onTargets('stray/2.html', '2');
    onTargets('stray/3.html', '3');
    configure({ maxDelete: 3 });
    try {
      const before = Object.values(dirs).map((d) => snapshot(d));
      const full = await farm.fanout(['sync', '--full']);
      expect(full.exitCode).toBe(2);
      expect(full.stderr).toMatch(/the deploy would delete 4 files or directories on web1, more than maxDelete \(3\); nothing was touched/);
      Object.values(dirs).forEach((d, i) => {
        expect(snapshot(d)).toEqual(before[i]);
      });
    } finally {
      configure();
    }
    expect((await farm.fanout(['sync', '--full'])).exitCode).toBe(0);
    for (const name of Object.keys(dirs)) expect(exists(name, 'stray'), name).toBe(false);
  });

  it('rsync stopping at --max-delete fails the target, daemons included (they exit 0), never "ok"', async () => {
    // the plan deletes one file; the directory also holds files no commit had, which the prune removes
    farm.write({ 'pics/keep.html': 'k', 'pics/gone.html': 'g' });
    await farm.commit('pics');
    await pushOk();
    onTargets('pics/extra1.html', '1');
    onTargets('pics/extra2.html', '2');
    onTargets('pics/extra3.html', '3');
    configure({ maxDelete: 2 });
    try {
      farm.remove('pics/gone.html');
      await farm.commit('one deletion');
      const push = await farm.push();
      for (const name of Object.keys(dirs)) expect(push.stderr).toMatch(new RegExp(`remote: +${name} +failed +rsync stopped deleting at --max-delete=2`));
      expect((await farm.fanout(['status'])).exitCode).toBe(1);
    } finally {
      configure();
    }
    expect((await farm.fanout(['deploy'])).exitCode).toBe(0);
    for (const name of Object.keys(dirs)) expect(exists(name, 'pics/extra1.html'), name).toBe(false);
  });
});

describe('what a commit changes reaches every target, however it changes it', () => {
  it('an empty commit, and a revert of a revert, leave every target ok, not behind', async () => {
    const empty = await farm.commit('nothing changed');
    await pushOk();
    const status = await farm.fanout(['status', '--json']);
    expect(status.exitCode, status.stdout).toBe(0);
    const parsed = JSON.parse(status.stdout) as { targets: { name: string; health: string; commit: string }[] };
    for (const t of parsed.targets) expect(t, t.name).toMatchObject({ health: 'ok', commit: empty });

    farm.write({ 'index.html': 'changed' });
    await farm.commit('change');
    await pushOk();
    await farm.git(['revert', '--no-edit', 'HEAD']);
    await pushOk();
    await farm.git(['revert', '--no-edit', 'HEAD']);
    const again = (await farm.git(['rev-parse', 'HEAD'])).stdout.trim();
    // the tree is the one the targets have already: nothing to send, and the commit is recorded
    await farm.push();
    expect((await farm.fanout(['status'])).exitCode).toBe(0);
    expect(lastDeploy().commit).toBe(again);
  });

  it('a .gitattributes change reaches the files it alters, though the diff does not name them', async () => {
    farm.write({ 'notes.txt': 'line one\nline two\n' });
    await farm.commit('notes');
    await pushOk();
    farm.write({ '.gitattributes': '*.txt text eol=crlf\n' });
    await farm.commit('crlf for text');
    await pushOk();
    expect(fs.readFileSync(path.join(farm.source, 'notes.txt'), 'utf8')).toBe('line one\r\nline two\r\n');
    for (const name of Object.keys(dirs)) expect(fs.readFileSync(path.join(dirs[name] ?? '', 'notes.txt'), 'utf8'), name).toBe('line one\r\nline two\r\n');
  });

  it('a mode-only change (chmod +x) is reported as sent', async () => {
    farm.write({ 'run.sh': { content: '#!/bin/sh\n', mode: 0o644 } });
    await farm.commit('script');
    await pushOk();
    farm.write({ 'run.sh': { content: '#!/bin/sh\n', mode: 0o755 } });
    await farm.commit('chmod +x');
    const output = await pushOk();
    for (const name of Object.keys(dirs)) {
      expect(output).toMatch(new RegExp(`remote: +${name} +ok +1 sent`));
      expect(fs.statSync(path.join(dirs[name] ?? '', 'run.sh')).mode & 0o111, name).toBe(0o111);
    }
  });
});
