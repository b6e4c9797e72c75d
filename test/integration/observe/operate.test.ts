import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CLI, createFarm, type Farm } from '../../../harness/farm.js';
import { diffSnapshots, snapshot, snapshotCommit } from '../../../harness/tree.js';

let farm: Farm;
const commits: Record<string, string> = {};

// Each case has a farm of its own that deployed A, B and C, with extra commits between them that
// are never deployed on their own: none depends on what another case did.
beforeEach(async () => {
  farm = await createFarm({ targets: 3, firstHost: 32 });
  for (const name of ['A', 'B', 'C']) {
    farm.write({ 'index.html': `release ${name}`, [`only-in-${name}.html`]: name });
    if (name !== 'A') farm.remove(`only-in-${name === 'B' ? 'A' : 'B'}.html`);
    await farm.commit(`${name} part 1`);
    farm.write({ [`notes/${name}.txt`]: `notes ${name}` });
    commits[name] = await farm.commit(`release ${name}`);
    if (name === 'A') await farm.git(['tag', 'v-A']);
    await farm.push(['origin', 'HEAD:main', '--tags']);
  }
});

afterEach(async () => {
  await farm.cleanup();
});

async function expectAllAt(commit: string | undefined): Promise<void> {
  if (commit === undefined) throw new Error('no such commit');
  const expected = await snapshotCommit(farm.repo, commit, farm.root);
  for (const d of farm.daemons) expect(diffSnapshots(expected, snapshot(d.dir)), d.name).toEqual([]);
}

interface StatusJson {
  ok: boolean;
  current: { commit: string } | null;
  targets: { name: string; health: string; commit: string | null; error?: string }[];
}

async function status(): Promise<StatusJson> {
  return JSON.parse((await farm.fanout(['status', '--json'])).stdout) as StatusJson;
}

function journalBytes(): string {
  return ['state.json', 'history.ndjson'].map((f) => fs.readFileSync(path.join(farm.stateDir, f), 'utf8')).join('\n---\n');
}

describe('operating the farm', () => {
  it('status says every target is ok at the current deploy, and exits 0', async () => {
    const result = await farm.fanout(['status']);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain('release C');
    expect(result.stdout).toMatch(/web1 +ok +[0-9a-f]{10} +release C/);
    const json = await status();
    expect(json.ok).toBe(true);
    expect(json.current?.commit).toBe(commits.C);
    expect(json.targets.map((t) => t.health)).toEqual(['ok', 'ok', 'ok']);
  });

  it('a dry-run rollback changes nothing, byte for byte, and shows what it would do', async () => {
    const trees = farm.daemons.map((d) => snapshot(d.dir));
    const journal = journalBytes();
    const result = await farm.fanout(['rollback', '--dry-run']);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain('would deploy');
    expect(result.stdout).toContain('only-in-B.html');
    expect(result.stdout).toContain('*deleting   only-in-C.html');
    farm.daemons.forEach((d, i) => {
      expect(snapshot(d.dir)).toEqual(trees[i]);
    });
    expect(journalBytes()).toBe(journal);
  });

  it('rollback twice goes back two deploys (not HEAD~1), then a push deploys normally', async () => {
    const first = await farm.fanout(['rollback']);
    expect(first.exitCode).toBe(0);
    expect(first.stdout).toContain('rolled back to');
    await expectAllAt(commits.B);
    const second = await farm.fanout(['rollback']);
    expect(second.exitCode).toBe(0);
    await expectAllAt(commits.A);
    // the branch itself was not rewritten
    expect((await farm.git(['ls-remote', farm.repo, 'refs/heads/main'])).stdout).toContain(commits.C);
    const history = JSON.parse((await farm.fanout(['history', '--json', '--limit', '2'])).stdout) as { deploys: { reason: string; commit: string }[] };
    expect(history.deploys.map((d) => [d.reason, d.commit])).toEqual([
      ['rollback', commits.A],
      ['rollback', commits.B],
    ]);
    const third = await farm.fanout(['rollback']);
    expect(third.exitCode).toBe(2);
    expect(third.stderr).toContain('no earlier deploy to roll back to');
    expect((await status()).ok).toBe(true);

    farm.write({ 'index.html': 'release D' });
    const d = await farm.commit('release D');
    await farm.push();
    await expectAllAt(d);
  });

  it('rollback to a tag, and an unknown revision is refused with nothing touched', async () => {
    const result = await farm.fanout(['rollback', 'v-A']);
    expect(result.exitCode).toBe(0);
    await expectAllAt(commits.A);
    const trees = farm.daemons.map((d) => snapshot(d.dir));
    const journal = journalBytes();
    const bad = await farm.fanout(['rollback', 'v-nope']);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toContain('unknown revision "v-nope"');
    farm.daemons.forEach((d, i) => {
      expect(snapshot(d.dir)).toEqual(trees[i]);
    });
    expect(journalBytes()).toBe(journal);
    await farm.fanout(['deploy']);
    await expectAllAt(commits.C);
  });

  it('a target down during a bad deploy is rolled back from the commit it really has', async () => {
    const web3 = farm.daemons[2];
    if (!web3) throw new Error('three daemons expected');
    await web3.stop();
    farm.write({ 'index.html': 'BAD release', 'broken.html': 'oops' });
    const bad = await farm.commit('bad release');
    await farm.push();
    const during = await status();
    expect(during.ok).toBe(false);
    expect(during.targets.find((t) => t.name === 'web3')).toMatchObject({ health: 'failed', commit: commits.C });
    const statusText = await farm.fanout(['status']);
    expect(statusText.exitCode).toBe(1);
    expect(statusText.stdout).toMatch(/web3 +failed/);

    await web3.start();
    farm.writeConfig();
    const back = await farm.fanout(['rollback']);
    expect(back.exitCode).toBe(0);
    // web3 never got the bad release: it has C already, so nothing is sent to it
    expect(back.stdout).toMatch(/web3 +ok +already up to date/);
    expect(back.stdout).toMatch(/web1 +ok +1 sent \([^)]+\), 1 deleted/);
    await expectAllAt(commits.C);
    expect((await status()).ok).toBe(true);
    expect(bad).not.toBe(commits.C);
  });

  it('verify finds a file changed by hand on one target; sync --full repairs it', async () => {
    const web2 = farm.daemons[1];
    if (!web2) throw new Error('three daemons expected');
    const clean = await farm.fanout(['verify']);
    expect(clean.exitCode).toBe(0);
    // same size and same mtime as the deployed file: only a content comparison can see it
    const page = path.join(web2.dir, 'index.html');
    const stat = fs.statSync(page);
    fs.writeFileSync(page, fs.readFileSync(page, 'utf8').replace('C', 'X'));
    fs.utimesSync(page, stat.atime, stat.mtime);
    fs.writeFileSync(path.join(web2.dir, 'stray.html'), 'left behind');

    const drift = await farm.fanout(['verify']);
    expect(drift.exitCode).toBe(1);
    expect(drift.stdout).toMatch(/web2 +drift +2 paths differ/);
    expect(drift.stdout).toContain('index.html');
    expect(drift.stdout).toContain('*deleting   stray.html');
    expect(drift.stdout).toMatch(/web1 +same/);
    const json = JSON.parse((await farm.fanout(['verify', '--json'])).stdout) as { ok: boolean; targets: { name: string; paths: string[] }[] };
    expect(json.ok).toBe(false);
    expect(json.targets.find((t) => t.name === 'web2')?.paths.sort()).toEqual(['index.html', 'stray.html']);

    const plain = await farm.fanout(['sync', '--full', '--target', 'web2', '--dry-run']);
    expect(plain.exitCode).toBe(0);
    expect(plain.stdout).toContain('stray.html');
    expect(fs.existsSync(path.join(web2.dir, 'stray.html'))).toBe(true);

    const repair = await farm.fanout(['sync', '--full', '--target', 'web2']);
    expect(repair.exitCode).toBe(0);
    const after = await farm.fanout(['verify']);
    expect(after.stdout).toMatch(/web2 +same/);
    expect(after.exitCode).toBe(0);
    const history = JSON.parse((await farm.fanout(['history', '--json', '--limit', '1'])).stdout) as { deploys: { reason: string; targets: { name: string }[] }[] };
    expect(history.deploys[0]).toMatchObject({ reason: 'sync', targets: [{ name: 'web2' }] });
  });

  it('sync with every target ok has nothing to do', async () => {
    const result = await farm.fanout(['sync']);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain('nothing to sync');
  });

  it('history lists deploys newest first with reason, who and per-target outcome', async () => {
    expect((await farm.fanout(['sync', '--full', '--target', 'web2'])).exitCode).toBe(0);
    const result = await farm.fanout(['history', '--limit', '3']);
    expect(result.exitCode).toBe(0);
    const lines = result.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^ID +WHEN +COMMIT +REASON +BY +TOOK +TARGETS$/);
    expect(lines).toHaveLength(4);
    expect(lines[1]).toMatch(/sync .*web2 ok/);
  });

  it('doctor checks tools, setup and each target, and finds a daemon that munges symlinks', async () => {
    const good = await farm.fanout(['doctor']);
    expect(good.stdout).toMatch(/ok +web1 reachable and writable/);
    expect(good.stdout).toMatch(/ok +web1 symlinks +arrive intact/);
    expect(good.stdout).toMatch(/ok +post-receive hook/);
    expect(good.exitCode).toBe(0);
    // no probe is left behind
    for (const d of farm.daemons) expect(fs.readdirSync(d.dir).filter((n) => n.startsWith('.fanout-probe'))).toEqual([]);

    const conf = path.join(farm.root, 'rsyncd-web1', 'rsyncd.conf');
    const original = fs.readFileSync(conf, 'utf8');
    const web1 = farm.daemons[0];
    if (!web1) throw new Error('three daemons expected');
    try {
      fs.writeFileSync(conf, original.replace('munge symlinks = no', 'munge symlinks = yes'));
      await web1.stop();
      await web1.start();
      farm.writeConfig();
      const bad = await farm.fanout(['doctor']);
      expect(bad.exitCode).toBe(1);
      expect(bad.stdout).toMatch(/problem +web1 symlinks +.*munges symlinks/);
      expect(bad.stdout).toMatch(/ok +web2 symlinks/);
    } finally {
      fs.writeFileSync(conf, original);
      await web1.stop();
      await web1.start();
      farm.writeConfig();
    }
  });
});

describe('the fanout the hook runs', () => {
  it('init refuses to point the hook at an installation others can write; doctor names a hook written for another installation', async () => {
    // a second installation of this build, as npm install -g lays it out: dist/ beside hooks/
    const installed = path.join(farm.root, 'prefix', 'fanout');
    for (const dir of ['dist', 'hooks']) fs.cpSync(path.resolve(path.dirname(CLI), '..', dir), path.join(installed, dir), { recursive: true });
    const other = (args: string[]) => execa(process.execPath, [path.join(installed, 'dist', 'cli.js'), '--config', farm.configFile, ...args], { reject: false });
    const hookFile = path.join(farm.repo, 'hooks', 'post-receive');
    const hook = fs.readFileSync(hookFile, 'utf8');

    fs.chmodSync(path.join(installed, 'dist'), 0o777);
    const refused = await other(['init']);
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toMatch(/the hook would run this fanout, but .*prefix\/fanout\/dist\/\S+\.js sits in .*prefix\/fanout\/dist, which everyone may write \(mode 777\).*; refusing to install it/);
    expect(fs.readFileSync(hookFile, 'utf8')).toBe(hook);
    expect((await other(['doctor'])).stdout).toMatch(/problem +post-receive hook +.*written for another fanout \(another installation, or an older version\); fix: fanout init/);

    fs.chmodSync(path.join(installed, 'dist'), 0o755);
    expect((await other(['init'])).exitCode).toBe(0);
    expect(fs.readFileSync(hookFile, 'utf8')).toContain(`'${path.join(installed, 'dist', 'cli.js')}' hook post-receive`);
    expect((await other(['doctor'])).stdout).toMatch(/ok +post-receive hook/);
    // this checkout's fanout now finds the hook runs the other one, and puts it back
    expect((await farm.fanout(['doctor'])).stdout).toMatch(/problem +post-receive hook +.*written for another fanout/);
    expect((await farm.fanout(['init'])).exitCode).toBe(0);
    expect(fs.readFileSync(hookFile, 'utf8')).toBe(hook);
  });
});

describe('--json is one document on stdout and nothing else', () => {
  it('for deploy, rollback dry runs and doctor', async () => {
    for (const args of [['deploy', '--json'], ['rollback', '--dry-run', '--json'], ['doctor', '--json'], ['sync', '--json']]) {
      const result = await farm.fanout(args);
      expect(() => JSON.parse(result.stdout) as unknown, args.join(' ')).not.toThrow();
      expect(result.stdout.trim().startsWith('{'), args.join(' ')).toBe(true);
    }
    const deployed = JSON.parse((await farm.fanout(['deploy', '--json'])).stdout) as { ok: boolean; deploys: { targets: { status: string }[] }[] };
    expect(deployed.ok).toBe(true);
    expect(deployed.deploys[0]?.targets.map((t) => t.status)).toEqual(['ok', 'ok', 'ok']);
  });
});
