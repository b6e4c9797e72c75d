import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CLI, createFarm, withoutProgress, type Farm } from '../../../harness/farm.js';
import { freePort } from '../../../harness/rsyncd.js';
import { diffSnapshots, snapshot, snapshotCommit } from '../../../harness/tree.js';

let farm: Farm;

// each case has a farm of its own, at v1: none depends on another's files or order
beforeEach(async () => {
  farm = await createFarm({ targets: 2, firstHost: 80 });
  farm.write({ 'index.html': 'v1' });
  await farm.commit('v1');
  await farm.push();
});

afterEach(async () => {
  await farm.cleanup();
});

/**
 * 400 files of 1 kB under `dir`, and rsync held to 100 kB/s: a deploy of some seconds, long enough
 * to be interrupted half-way on a machine of any speed, that costs little of it.
 */
function writeBigChange(dir: string): void {
  const files: Record<string, string> = {};
  for (let i = 0; i < 400; i += 1) files[`${dir}/d${i % 40}/f${i}.html`] = `page ${i} `.repeat(80);
  farm.write(files);
  farm.writeConfig({ rsync: { args: ['--bwlimit=100'] } });
}

describe('faults', () => {
  it('a target that accepts connections and never answers is bounded by its timeout; the others succeed', async () => {
    // a loopback server that takes the connection and says nothing, like a wedged host
    const address = '127.0.0.82';
    const sockets = new Set<net.Socket>();
    const server = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
    });
    const port = await freePort(address);
    await new Promise<void>((resolve) => server.listen(port, address, resolve));
    try {
      const [web1, web2] = farm.daemons;
      if (!web1 || !web2) throw new Error('two daemons expected');
      const hung = { name: 'hung', dest: `rsync://deploy@${address}:${port}/web/`, passwordFile: web1.passwordFile, timeout: 2 };
      farm.writeConfig({}, [...farm.daemons.map((d) => ({ name: d.name, dest: d.dest, passwordFile: d.passwordFile })), hung]);
      farm.write({ 'index.html': 'v2' });
      const commit = await farm.commit('v2');
      const push = await farm.push();
      expect(push.stderr).toMatch(/remote: +hung +failed +timed out/);
      expect(push.stderr).toMatch(/remote: +web1 +ok +1 sent/);
      expect(push.stderr).toMatch(/remote: +web2 +ok +1 sent/);
      expect(sockets.size).toBeGreaterThan(0);
      const again = await farm.fanout(['deploy']);
      expect(again.exitCode).toBe(1);
      expect(again.stdout).toMatch(/hung +failed +timed out/);
      const expected = await snapshotCommit(farm.repo, commit, farm.root);
      for (const d of farm.daemons) expect(diffSnapshots(expected, snapshot(d.dir))).toEqual([]);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
      farm.writeConfig();
    }
  });

  it('the hook refuses a config that others can write, and touches nothing', async () => {
    const before = farm.daemons.map((d) => snapshot(d.dir));
    fs.chmodSync(farm.configFile, 0o666);
    try {
      farm.write({ 'index.html': 'v3' });
      await farm.commit('v3');
      const push = await farm.push();
      expect(push.stderr).toMatch(/remote: fanout: config .* is writable by everyone \(mode 666\): chmod go-w .*; refusing to use it/);
      farm.daemons.forEach((d, i) => {
        expect(snapshot(d.dir)).toEqual(before[i]);
      });
    } finally {
      fs.chmodSync(farm.configFile, 0o644);
    }
    expect((await farm.fanout(['deploy'])).exitCode).toBe(0);
  });

  it('no password is in the process list or the environment of any process during a deploy, nor in the log', async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 300; i += 1) files[`bulk/d${i % 20}/f${i}.html`] = `page ${i} `.repeat(50);
    farm.write(files);
    await farm.commit('bulk');
    await farm.pushWithoutDeploy();
    // about a second and a half of sending to each target, for the sweep below to catch its rsync
    farm.writeConfig({ rsync: { args: ['--bwlimit=100'] } });
    const passwords = farm.daemons.map((d) => fs.readFileSync(d.passwordFile, 'utf8').trim());
    const seen = new Set<string>();
    let leaked = '';
    let watching = true;
    const sweep = async (): Promise<void> => {
      while (watching) {
        for (const pid of fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
          for (const what of ['cmdline', 'environ']) {
            let text: string;
            try {
              text = fs.readFileSync(`/proc/${pid}/${what}`, 'utf8').replaceAll('\0', ' ');
            } catch {
              continue; // gone already
            }
            if (what === 'cmdline' && text.startsWith('rsync ') && text.includes('--password-file=')) seen.add(text);
            for (const password of passwords) if (text.includes(password)) leaked = `${what} of pid ${pid}`;
          }
        }
        await new Promise((resolve) => setImmediate(resolve));
      }
    };
    const sweeping = sweep();
    const result = await farm.fanout(['deploy']);
    watching = false;
    await sweeping;
    expect(result.exitCode).toBe(0);
    expect(seen.size).toBeGreaterThan(0);
    expect(leaked).toBe('');
    const log = fs.readFileSync(`${farm.stateDir}/fanout.log`, 'utf8');
    for (const password of passwords) expect(log).not.toContain(password);
  });

  it('a push deleting more than maxDelete files is refused with nothing touched; --max-delete lets it through', async () => {
    farm.write({ 'bulk/d1/f1.html': '1', 'bulk/d1/f21.html': '21', 'bulk/d1/f41.html': '41', 'bulk/d1/kept.html': 'kept', 'bulk/d2/x.html': 'x', 'bulk/d2/y.html': 'y' });
    await farm.commit('four pages');
    await farm.push();
    farm.writeConfig({ maxDelete: 5 });
    try {
      const before = farm.daemons.map((d) => snapshot(d.dir));
      // three files, and a directory of two: six deletions, as rsync's --max-delete counts them
      farm.remove('bulk/d1/f1.html', 'bulk/d1/f21.html', 'bulk/d1/f41.html', 'bulk/d2');
      const commit = await farm.commit('delete six');
      const push = await farm.push();
      expect(push.stderr).toMatch(/remote: fanout: the deploy would delete 6 files or directories on web1, more than maxDelete \(5\); nothing was touched/);
      farm.daemons.forEach((d, i) => {
        expect(snapshot(d.dir)).toEqual(before[i]);
      });
      const refused = await farm.fanout(['deploy']);
      expect(refused.exitCode).toBe(2);
      // what CI asks: the tip is not deployed, and status says why, with its exit code and in JSON
      const status = await farm.fanout(['status']);
      expect(status.exitCode).toBe(1);
      expect(status.stdout).toMatch(new RegExp(`branch main is at ${commit.slice(0, 10)} "delete six", not deployed: refused: the deploy would delete 6 files or directories on web1, more than maxDelete \\(5\\)`));
      const json = JSON.parse((await farm.fanout(['status', '--json'])).stdout) as { ok: boolean; branchTipDeployed: boolean; branchTipProblem: string };
      expect(json).toMatchObject({ ok: false, branchTipDeployed: false, branchTipProblem: expect.stringMatching(/^refused: the deploy would delete 6 files or directories/) as string });
      const allowed = await farm.fanout(['deploy', '--max-delete', '6']);
      expect(allowed.exitCode).toBe(0);
      // counted as the refusal counted them
      expect(allowed.stdout).toMatch(/web1 +ok +0 sent, 6 deleted/);
      expect((await farm.fanout(['status'])).exitCode).toBe(0);
      const expected = await snapshotCommit(farm.repo, commit, farm.root);
      for (const d of farm.daemons) expect(diffSnapshots(expected, snapshot(d.dir))).toEqual([]);
    } finally {
      farm.writeConfig();
    }
  });

  it('an empty tree is refused (it would empty every target) unless --allow-empty', async () => {
    const before = farm.daemons.map((d) => snapshot(d.dir));
    await farm.git(['rm', '-r', '-q', '.']);
    await farm.commit('empty');
    const push = await farm.push();
    expect(push.stderr).toMatch(/remote: fanout: commit [0-9a-f]{10} has no files; refusing to deploy it \(it would empty every target\); nothing was touched/);
    // the source is not emptied either: the refusal comes before the checkout
    expect(fs.readdirSync(farm.source).length).toBeGreaterThan(0);
    farm.daemons.forEach((d, i) => {
      expect(snapshot(d.dir)).toEqual(before[i]);
    });
    const allowed = await farm.fanout(['deploy', '--allow-empty']);
    expect(allowed.exitCode).toBe(0);
    for (const d of farm.daemons) expect(fs.readdirSync(d.dir).filter((n) => n !== '.~tmp~')).toEqual([]);
    farm.write({ 'index.html': 'back' });
    const back = await farm.commit('back');
    await farm.push();
    const expected = await snapshotCommit(farm.repo, back, farm.root);
    for (const d of farm.daemons) expect(diffSnapshots(expected, snapshot(d.dir))).toEqual([]);
  });

  it('a pusher who hits Ctrl-C mid-deploy does not stop it: the deploy finishes and is recorded', async () => {
    writeBigChange('interrupted');
    const commit = await farm.commit('big');
    // git push in a process group of its own, as a terminal runs it; Ctrl-C signals that group
    const push = execa('git', ['push', 'origin', 'HEAD:main'], { cwd: farm.clone, reject: false, detached: true });
    const lock = path.join(farm.stateDir, 'lock');
    const deadline = Date.now() + 20_000;
    // hit once files are on their way to a target
    const sending = (): boolean => farm.daemons.some((d) => fs.existsSync(path.join(d.dir, 'interrupted')));
    while (!(fs.existsSync(lock) && fs.readFileSync(lock, 'utf8').includes('push') && sending())) {
      if (Date.now() > deadline) throw new Error('the deploy never started');
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    if (push.pid !== undefined) process.kill(-push.pid, 'SIGINT');
    await push;
    // the deploy goes on without its pusher; the lock is released when it is done
    while (fs.readFileSync(lock, 'utf8').includes('push')) {
      if (Date.now() > deadline + 40_000) throw new Error('the deploy never finished');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const expected = await snapshotCommit(farm.repo, commit, farm.root);
    for (const d of farm.daemons) expect(diffSnapshots(expected, snapshot(d.dir)), d.name).toEqual([]);
    const history = fs.readFileSync(path.join(farm.stateDir, 'history.ndjson'), 'utf8').trim().split('\n');
    const last = JSON.parse(history.at(-1) ?? '{}') as { commit: string; reason: string; targets: { status: string }[] };
    expect(last).toMatchObject({ commit, reason: 'push' });
    expect(last.targets.map((t) => t.status)).toEqual(['ok', 'ok']);
  });

  it('fanout killed with SIGKILL mid-deploy: the lock frees itself, the journal stays readable, the next deploy repairs', async () => {
    writeBigChange('killed');
    const commit = await farm.commit('big, killed');
    // the commit reaches the repository without a deploy: the hook is moved aside for the push
    await farm.pushWithoutDeploy();
    const deploy = execa(process.execPath, [CLI, '--config', farm.configFile, 'deploy'], { reject: false });
    const deadline = Date.now() + 20_000;
    const state = path.join(farm.stateDir, 'state.json');
    const attempting = (): boolean =>
      Object.values((JSON.parse(fs.readFileSync(state, 'utf8')) as { targets: Record<string, { attempted: string[] }> }).targets).some((t) => t.attempted.includes(commit));
    // state.json is replaced atomically, so every read parses
    while (!attempting()) {
      if (Date.now() > deadline) throw new Error('the deploy never reached its targets');
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    deploy.kill('SIGKILL');
    await deploy;
    const journal = JSON.parse(fs.readFileSync(state, 'utf8')) as { targets: Record<string, { attempted: string[] }> };
    expect(Object.values(journal.targets).some((t) => t.attempted.includes(commit))).toBe(true);
    const status = await farm.fanout(['status']);
    expect(status.exitCode).toBe(1);
    // no stale lock: the next deploy starts at once and repairs every target
    farm.writeConfig();
    const next = await farm.fanout(['deploy']);
    expect(withoutProgress(next.stderr)).toBe('');
    expect(next.stdout).not.toContain('waiting for the deploy in progress');
    expect(next.exitCode).toBe(0);
    const expected = await snapshotCommit(farm.repo, commit, farm.root);
    for (const d of farm.daemons) expect(diffSnapshots(expected, snapshot(d.dir)), d.name).toEqual([]);
    expect((await farm.fanout(['status'])).exitCode).toBe(0);
  });
});
