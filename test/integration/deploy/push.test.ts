import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFarm, withoutProgress, type Farm } from '../../../harness/farm.js';
import { diffSnapshots, snapshot, snapshotCommit } from '../../../harness/tree.js';

let farm: Farm;
/** the first commit, and what its push said */
let first: string;
let firstPush: { exitCode: number; stderr: string };

const AWKWARD = ['with space.html', 'new\nline.txt', `quote"s 'and' more.txt`, '-leading-dash.html', 'ünïcødé/日本語.html', 'back\\slash.txt', '*star?.txt'];

// each case has a farm of its own, with the first site pushed: none depends on another's order
beforeEach(async () => {
  farm = await createFarm({ targets: 3, firstHost: 2, config: { exclude: ['*.swp'] } });
  farm.write({
    'index.html': '<h1>v1</h1>',
    'css/site.css': 'body{}',
    'cgi-bin/run.sh': { content: '#!/bin/sh\necho hi\n', mode: 0o755 },
    'latest.html': { symlink: 'index.html' },
    'deep/a/b/c/file.txt': 'deep',
    'editor.swp': 'never sent',
    ...Object.fromEntries(AWKWARD.map((name) => [name, `content of ${name}`])),
  });
  first = await farm.commit('first');
  firstPush = await farm.push();
});

afterEach(async () => {
  await farm.cleanup();
});

/** Invariant 1, checked the way the issue says: each target equals `git archive` of the commit. */
async function expectTargetsAt(commit: string): Promise<void> {
  const expected = await snapshotCommit(farm.repo, commit, farm.root);
  for (const key of [...expected.keys()]) if (key.endsWith('.swp')) expected.delete(key);
  for (const daemon of farm.daemons) {
    expect(diffSnapshots(expected, snapshot(daemon.dir)), `${daemon.name} differs from ${commit}`).toEqual([]);
  }
}

function remoteLines(output: string): string[] {
  return output
    .split('\n')
    .filter((l) => l.startsWith('remote: '))
    .map((l) => l.slice('remote: '.length).trim());
}

function targetReport(output: string, name: string): string {
  const line = remoteLines(output).find((l) => l.startsWith(`${name} `));
  if (line === undefined) throw new Error(`no report line for ${name} in:\n${output}`);
  return line;
}

/** Push and require every target's report line to say ok. */
async function pushAllOk(): Promise<string> {
  const output = (await farm.push()).stderr;
  for (const daemon of farm.daemons) expect(targetReport(output, daemon.name)).toMatch(/ ok /);
  return output;
}

describe('git push deploys to every target', () => {
  it('init is idempotent: a second run changes nothing', async () => {
    const hook = path.join(farm.repo, 'hooks', 'post-receive');
    const before = fs.readFileSync(hook, 'utf8');
    const again = await farm.fanout(['init']);
    expect(again.exitCode).toBe(0);
    expect(again.stdout).toContain('already set up');
    expect(fs.readFileSync(hook, 'utf8')).toBe(before);
    expect(before).toContain(process.execPath);
    expect(fs.statSync(hook).mode & 0o111).toBe(0o111);
  });

  it('a first push sends the whole site, awkward names, exec bits and symlinks included', async () => {
    expect(firstPush.exitCode).toBe(0);
    const output = firstPush.stderr;
    for (const daemon of farm.daemons) expect(targetReport(output, daemon.name)).toMatch(/ ok .*full pass/);
    expect(remoteLines(output).some((l) => /^deployed [0-9a-f]{10} "first" to 3\/3 targets/.test(l))).toBe(true);
    await expectTargetsAt(first);
    for (const daemon of farm.daemons) expect(fs.existsSync(path.join(daemon.dir, 'editor.swp'))).toBe(false);
  });

  it('a one-file change sends exactly that file to each target', async () => {
    farm.write({ 'css/site.css': 'body{color:red}' });
    const commit = await farm.commit('one file');
    const output = (await farm.push()).stderr;
    for (const daemon of farm.daemons) expect(targetReport(output, daemon.name)).toMatch(/ ok +1 sent \([^)]+\), 0 deleted/);
    await expectTargetsAt(commit);
  });

  it('a same-size edit within the same second still arrives (contents are compared, not size and mtime)', async () => {
    farm.write({ 'css/site.css': 'body{color:blu}' });
    const commit = await farm.commit('same size');
    await pushAllOk();
    await expectTargetsAt(commit);
  });

  it('adds, edits, deletes, renames, directory removals and type changes all land', async () => {
    farm.remove('deep', 'with space.html');
    farm.write({
      'moved/index-copy.html': '<h1>v1</h1>',
      'ünïcødé/日本語.html': 'changed',
      'latest.html': 'now a file',
      'cgi-bin/run.sh': { content: '#!/bin/sh\necho hi\n', mode: 0o644 },
      'new\nline.txt': { symlink: 'css/site.css' },
    });
    await farm.git(['mv', '-leading-dash.html', 'renamed -dash.html']);
    const commit = await farm.commit('many changes');
    await pushAllOk();
    for (const daemon of farm.daemons) {
      expect(fs.existsSync(path.join(daemon.dir, 'deep'))).toBe(false);
    }
    await expectTargetsAt(commit);
  });

  it('a file replaced by a directory and back', async () => {
    farm.remove('css/site.css');
    farm.write({ 'css/site.css/inner.css': 'x' });
    const c1 = await farm.commit('file to dir');
    await pushAllOk();
    await expectTargetsAt(c1);
    farm.remove('css/site.css');
    farm.write({ 'css/site.css': 'back to a file' });
    const c2 = await farm.commit('dir to file');
    await pushAllOk();
    await expectTargetsAt(c2);
  });

  it('the bare repository keeps its HEAD and refs; the source holds the commit', async () => {
    const head = fs.readFileSync(path.join(farm.repo, 'HEAD'), 'utf8').trim();
    expect(head).toBe('ref: refs/heads/main');
    const refs = (await farm.git(['ls-remote', farm.repo])).stdout.trim().split('\n');
    const local = (await farm.git(['rev-parse', 'HEAD'])).stdout.trim();
    expect(refs).toEqual([`${local}\tHEAD`, `${local}\trefs/heads/main`]);
    const expected = await snapshotCommit(farm.repo, local, farm.root);
    expect(diffSnapshots(expected, snapshot(farm.source))).toEqual([]);
  });

  it('pushes to other branches and branch deletions deploy nothing and say so', async () => {
    const before = farm.daemons.map((d) => snapshot(d.dir));
    farm.write({ 'index.html': 'feature work' });
    await farm.commit('feature');
    const other = (await farm.push(['origin', 'HEAD:refs/heads/feature'])).stderr;
    expect(other).toContain('ignoring refs/heads/feature');
    const deleted = (await farm.push(['origin', ':refs/heads/feature'])).stderr;
    expect(deleted).toContain('ignoring refs/heads/feature');
    farm.daemons.forEach((d, i) => {
      expect(snapshot(d.dir)).toEqual(before[i]);
    });
    await farm.git(['reset', '-q', '--hard', 'HEAD~1']);
  });

  it('fanout deploy REV deploys by hand through the same engine, each target from its own commit', async () => {
    for (const n of [2, 3, 4]) {
      farm.write({ 'index.html': `<h1>v${n}</h1>`, [`page${n}.html`]: `page ${n}` });
      await farm.commit(`v${n}`);
      await pushAllOk();
    }
    const tip = (await farm.git(['rev-parse', 'HEAD'])).stdout.trim();
    const older = first;
    const back = await farm.fanout(['deploy', older]);
    expect(withoutProgress(back.stderr)).toBe('');
    expect(back.exitCode).toBe(0);
    expect(back.stdout).not.toContain('full pass');
    await expectTargetsAt(older);
    const forward = await farm.fanout(['deploy']);
    expect(forward.exitCode).toBe(0);
    await expectTargetsAt(tip);
    const again = await farm.fanout(['deploy']);
    expect(again.stdout).toContain('already up to date');
    const history = fs.readFileSync(path.join(farm.stateDir, 'history.ndjson'), 'utf8').trim().split('\n');
    const last = JSON.parse(history.at(-1) ?? '{}') as { reason: string; commit: string; targets: { status: string }[] };
    expect(last).toMatchObject({ reason: 'manual', commit: tip });
    expect(last.targets.map((t) => t.status)).toEqual(['ok', 'ok', 'ok']);
  });

  it('an unknown revision is one clear line, exit 2, nothing touched', async () => {
    const before = farm.daemons.map((d) => snapshot(d.dir));
    const result = await farm.fanout(['deploy', 'no-such-rev']);
    expect(result.exitCode).toBe(2);
    expect(result.stderr.trim().split('\n')).toEqual(['fanout: unknown revision "no-such-rev": it is not a commit in ' + farm.repo]);
    farm.daemons.forEach((d, i) => {
      expect(snapshot(d.dir)).toEqual(before[i]);
    });
  });

  it('no password reaches the log', () => {
    const log = fs.readFileSync(path.join(farm.stateDir, 'fanout.log'), 'utf8');
    expect(log).toContain('"msg":"deploy finished"');
    for (const daemon of farm.daemons) {
      const password = fs.readFileSync(daemon.passwordFile, 'utf8').trim();
      expect(password.length).toBeGreaterThan(8);
      expect(log).not.toContain(password);
    }
    expect(fs.statSync(path.join(farm.stateDir, 'fanout.log')).mode & 0o077).toBe(0);
  });

  it('a submodule deploys as an empty directory, as every checkout and a full pass leave it; the same commit gives the same farm whichever pass sends it', async () => {
    // a gitlink to a commit this repository does not have, as a vendored theme would be
    fs.mkdirSync(path.join(farm.clone, 'vendor/theme'), { recursive: true });
    farm.write({ '.gitmodules': '[submodule "theme"]\n\tpath = vendor/theme\n\turl = https://example.invalid/theme.git\n', 'index.html': 'v2' });
    await farm.git(['update-index', '--add', '--cacheinfo', `160000,${'1'.repeat(40)},vendor/theme`]);
    const sub = await farm.commit('add a submodule');
    const output = await pushAllOk();
    expect(output).not.toMatch(/failed/);
    await expectTargetsAt(sub);
    expect(fs.readdirSync(path.join(farm.daemons[0]?.dir ?? '', 'vendor/theme'))).toEqual([]);
    // a full pass of the same commit changes nothing: both passes leave the same farm
    const full = await farm.fanout(['sync', '--full']);
    expect(full.exitCode).toBe(0);
    for (const d of farm.daemons) expect(full.stdout).toMatch(new RegExp(`${d.name} +ok +0 sent, 0 deleted \\(full pass\\)`));
    expect((await farm.fanout(['verify'])).exitCode).toBe(0);
    // and it goes away as it came
    await farm.git(['rm', '-q', '--cached', 'vendor/theme']);
    fs.rmSync(path.join(farm.clone, 'vendor'), { recursive: true });
    farm.remove('.gitmodules');
    const gone = await farm.commit('drop the submodule');
    await pushAllOk();
    await expectTargetsAt(gone);
    expect((await farm.fanout(['verify'])).exitCode).toBe(0);
  });
});
