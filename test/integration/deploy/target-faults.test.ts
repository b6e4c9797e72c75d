import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFarm, type Farm, type Ran } from '../../../harness/farm.js';
import { startDaemon, type Daemon } from '../../../harness/rsyncd.js';
import { diffSnapshots, snapshot, snapshotCommit, type Snapshot } from '../../../harness/tree.js';

/**
 * What a target does on its worst day, against real rsync daemons: it dies or freezes mid-transfer,
 * its disk fills, its directory or module is not writable, it refuses the password. Each time the
 * other target deploys, the failing one gets one clear line, and a later deploy repairs it. Each
 * case has a farm of its own, at v1: none depends on another's files or order.
 */

let farm: Farm;
let base: string;
const extras: Daemon[] = [];

beforeEach(async () => {
  farm = await createFarm({ targets: 2, firstHost: 60 });
  farm.write({ 'index.html': 'v1', 'a-old.html': 'linked from v1', 'keep.html': 'keep' });
  base = await farm.commit('v1');
  await farm.push();
});

afterEach(async () => {
  await Promise.all(extras.splice(0).map((d) => d.stop()));
  await farm.cleanup();
});

interface TargetStateFile {
  commit: string | null;
  status: string;
  error?: string;
  attempted: string[];
}

function targetState(name: string): TargetStateFile | undefined {
  return (JSON.parse(fs.readFileSync(path.join(farm.stateDir, 'state.json'), 'utf8')) as { targets: Record<string, TargetStateFile> }).targets[name];
}

/** An extra daemon for one test, on its own loopback address, stopped when the file is done. */
async function extraDaemon(hostIndex: number, name: string, moduleLines: string[] = []): Promise<Daemon> {
  const daemon = await startDaemon({ hostIndex, root: farm.root, name, moduleLines });
  extras.push(daemon);
  return daemon;
}

function targetsWith(...more: { name: string; dest: string; passwordFile: string }[]): Record<string, unknown>[] {
  return [...farm.daemons.map((d) => ({ name: d.name, dest: d.dest, passwordFile: d.passwordFile })), ...more];
}

/** `count` files of about 1 kB under `dir`, with an edit and a deletion of files the site had. */
function writeBigChange(dir: string, count: number): void {
  const files: Record<string, string> = { 'index.html': `index for ${dir}` };
  for (let i = 0; i < count; i += 1) files[`${dir}/d${i % 20}/f${i}.html`] = `${dir} page ${i} `.repeat(60);
  farm.write(files);
}

async function expectAt(dir: string, commit: string): Promise<void> {
  expect(diffSnapshots(await snapshotCommit(farm.repo, commit, farm.root), snapshot(dir))).toEqual([]);
}

function filesOnly(snap: Snapshot): Snapshot {
  return new Map([...snap].filter(([, value]) => value !== 'dir'));
}

function withoutRsyncTemp(snap: Snapshot): Snapshot {
  return new Map([...snap].filter(([key]) => !/(^|\/)\.[^/]+\.[A-Za-z0-9]{6}$/.test(key)));
}

function leftovers(dir: string): string[] {
  return execFileSync('find', [dir, '-name', '.~tmp~'], { encoding: 'utf8' }).split('\n').filter((l) => l !== '');
}

async function until(what: string, condition: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Files in flight: --delay-updates holds them in .~tmp~ until the transfer ends. */
function transferUnderWay(dir: string): boolean {
  return leftovers(dir).some((tmp) => fs.readdirSync(tmp).length > 0);
}

/** `fanout deploy`, with `daemon` hit by `signal` once files are on their way to it. */
async function deployHitMidTransfer(daemon: Daemon, signal: NodeJS.Signals): Promise<Ran> {
  const deploying = farm.fanout(['deploy']);
  await until(`${daemon.name} receives files`, () => transferUnderWay(daemon.dir));
  daemon.signal(signal);
  return deploying;
}

describe('a target that fails mid-transfer', () => {
  it('killed mid-transfer: retried with backoff, then failed; it shows its old files, never a mix; the next deploy repairs it', async () => {
    const [web1, web2] = farm.daemons;
    if (!web1 || !web2) throw new Error('two daemons expected');
    // slow enough (about 3 s a target) to be caught half-way
    farm.writeConfig({ retries: 2, retryDelay: 0.2, rsync: { args: ['--bwlimit=100'] } });
    const before = filesOnly(snapshot(web1.dir));
    writeBigChange('killed', 300);
    farm.remove('a-old.html');
    const commit = await farm.commit('big change that also deletes a page v1 linked to');
    await farm.pushWithoutDeploy();
    try {
      const result = await deployHitMidTransfer(web1, 'SIGKILL');
      expect(result.exitCode).toBe(1);
      expect(result.stdout).toMatch(/web1 +failed +cannot connect/);
      expect(result.stdout).toMatch(/web2 +ok/);
      // Every file of the site is v1's: the new ones wait in .~tmp~ (--delay-updates), and the page
      // the change deletes is still there for v1's links. rsync's own temp file for the file it was
      // writing (".name.XXXXXX", in the file's directory) may be left; the repair removes it.
      expect(withoutRsyncTemp(filesOnly(snapshot(web1.dir)))).toEqual(before);
      await expectAt(web2.dir, commit);
      expect(targetState('web1')).toMatchObject({ commit: base, status: 'failed', attempted: [commit] });
      const retries = fs
        .readFileSync(path.join(farm.stateDir, 'fanout.log'), 'utf8')
        .split('\n')
        .filter((l) => l.includes('rsync failed; retrying') && l.includes(`"attempt"`))
        .slice(-2)
        .map((l) => (JSON.parse(l) as { retryInMs: number }).retryInMs);
      expect(retries).toEqual([200, 400]);
    } finally {
      await web1.stop();
      await web1.start();
      farm.writeConfig();
    }
    const repair = await farm.fanout(['deploy']);
    expect(repair.exitCode).toBe(0);
    await expectAt(web1.dir, commit);
    expect(leftovers(web1.dir)).toEqual([]);
    expect(targetState('web1')).toMatchObject({ commit, status: 'ok', attempted: [] });
  });

  /** rsync's temp file for a file it is writing (`.name.XXXXXX`), or a non-empty .~tmp~, anywhere below `dir`. */
  function writing(dir: string): boolean {
    return transferUnderWay(dir) || execFileSync('find', [dir, '-name', '.*.??????', '-size', '+0'], { encoding: 'utf8' }).trim() !== '';
  }

  it.each(['in place', 'slots'] as const)('%s: killed mid-transfer and back before the retry, which succeeds: nothing the killed receiver left is served; status, verify and the files agree', async (layout) => {
    const [web1, web2] = farm.daemons;
    if (!web1 || !web2) throw new Error('two daemons expected');
    const slots = layout === 'slots' ? { layout: 'slots', slotGrace: 0 } : {};
    farm.writeConfig(slots);
    if (layout === 'slots') {
      // both slots hold a release, so that the big change is staged by a paths pass, not a full one
      expect((await farm.fanout(['deploy'])).exitCode).toBe(0);
      farm.write({ 'keep.html': 'keep, in both slots' });
      await farm.commit('v1b');
      expect((await farm.push()).exitCode).toBe(0);
    }
    // one file of about 2 MB at 2 MB/s: about a second on the wire, long enough to be caught in it
    farm.writeConfig({ ...slots, retries: 3, retryDelay: 0.5, rsync: { args: ['--bwlimit=2000'] } });
    farm.write({ 'media/big.bin': crypto.randomBytes(1_500_000).toString('base64'), 'index.html': 'v2' });
    const commit = await farm.commit('v2 with a big file');
    await farm.pushWithoutDeploy();
    const deploying = farm.fanout(['deploy']);
    await until('web1 writes the big file', () => writing(web1.dir));
    web1.signal('SIGKILL');
    await web1.stop();
    // back on the same address and port, well before the retry's delay is over
    await web1.start();
    const result = await deploying;
    expect(result.exitCode).toBe(0);
    expect(farm.history().at(-1)?.targets.find((t) => t.name === 'web1')?.attempts).toBeGreaterThan(1);
    const served = layout === 'slots' ? path.join(web1.dir, 'current') : web1.dir;
    await expectAt(served, commit);
    expect(leftovers(web1.dir)).toEqual([]);
    expect((await farm.fanout(['status'])).exitCode).toBe(0);
    expect((await farm.fanout(['verify', '--all-slots'])).exitCode).toBe(0);
  });

  it('frozen mid-transfer (its processes stop, its kernel still answers): bounded by the timeout, named as such; the other target is done', async () => {
    const [web1, web2] = farm.daemons;
    if (!web1 || !web2) throw new Error('two daemons expected');
    writeBigChange('frozen', 300);
    const commit = await farm.commit('frozen');
    farm.writeConfig({ timeout: 2, rsync: { args: ['--bwlimit=100'] } });
    await farm.pushWithoutDeploy();
    try {
      const result = await deployHitMidTransfer(web1, 'SIGSTOP');
      expect(result.exitCode).toBe(1);
      // Mid-transfer, rsync's own --timeout does not fire: its keepalives still leave and the frozen
      // host's kernel takes them, so fanout's stall watchdog ends it. Frozen while the client itself
      // waits for the daemon's answer (the file list, a phase its keepalives do not cover), rsync's
      // own timeout comes first: seen once in a loaded CI run. Either way: bounded, and said so.
      expect(result.stdout).toMatch(
        /web1 +failed +timed out waiting for the target to send or receive data \((nothing from the target for 3s: its rsync is frozen or gone|rsync exit 30: .*io timeout after 2 seconds)/,
      );
      await expectAt(web2.dir, commit);
    } finally {
      web1.signal('SIGCONT');
      await web1.stop();
      await web1.start();
      farm.writeConfig();
    }
    expect((await farm.fanout(['deploy'])).exitCode).toBe(0);
    await expectAt(web1.dir, commit);
    expect(leftovers(web1.dir)).toEqual([]);
  });
});

function canMountTmpfs(): boolean {
  if (process.getuid?.() !== 0) return false;
  const probe = fs.mkdtempSync('/tmp/fanout-mount-probe-');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe], { stdio: 'ignore' });
    execFileSync('umount', [probe]);
    return true;
  } catch {
    return false;
  } finally {
    fs.rmSync(probe, { recursive: true, force: true });
  }
}

describe('a target that cannot take the files', () => {
  // mounting a small tmpfs needs root; CI runs as root
  it.skipIf(!canMountTmpfs())('its disk is full: a clear per-target error, the other target deploys; once there is room the next deploy repairs it', async () => {
    const small = await extraDaemon(62, 'small');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', small.dir]);
    try {
      farm.writeConfig({}, targetsWith({ name: 'small', dest: small.dest, passwordFile: small.passwordFile }));
      // a first deploy to it is a full pass: about 4 MB, into 1 MB
      writeBigChange('full-disk', 1000);
      const commit = await farm.commit('does not fit');
      const push = await farm.push();
      expect(push.stderr).toMatch(/remote: +small +failed +the target's disk is full .*No space left on device/);
      for (const d of farm.daemons) await expectAt(d.dir, commit);
      expect(targetState('small')).toMatchObject({ status: 'failed' });
      execFileSync('mount', ['-o', 'remount,size=64m', small.dir]);
      const again = await farm.fanout(['deploy']);
      expect(again.exitCode).toBe(0);
      await expectAt(small.dir, commit);
    } finally {
      // unmounted whatever else fails here, or the farm's clean-up cannot remove its directory
      try {
        await small.stop();
      } finally {
        execFileSync('umount', [small.dir]);
        farm.writeConfig();
      }
    }
  });

  it('its directory is not writable by the daemon user: permission denied, named; fixed, the next deploy repairs it', async () => {
    // The daemon drops to nobody for this module; the directory stays root's, mode 755.
    const locked = await extraDaemon(63, 'locked', ['uid = nobody', 'gid = nogroup']);
    fs.chmodSync(locked.dir, 0o755);
    fs.chmodSync(path.dirname(locked.dir), 0o755);
    try {
      farm.writeConfig({}, targetsWith({ name: 'locked', dest: locked.dest, passwordFile: locked.passwordFile }));
      farm.write({ 'index.html': 'permissions' });
      const commit = await farm.commit('permissions');
      const push = await farm.push();
      expect(push.stderr).toMatch(/remote: +locked +failed +permission denied on the target: .*\(rsync exit 23: .*Permission denied \(13\)\)/);
      for (const d of farm.daemons) await expectAt(d.dir, commit);
      expect(fs.readdirSync(locked.dir)).toEqual([]);
      execFileSync('chown', ['-R', 'nobody:nogroup', locked.dir]);
      expect((await farm.fanout(['deploy'])).exitCode).toBe(0);
      await expectAt(locked.dir, commit);
    } finally {
      await locked.stop();
      farm.writeConfig();
    }
  });

  it('a read-only module: fails alone, named as such when rsync passes the daemon\'s word on; nothing is written there', async () => {
    const readOnly = await extraDaemon(64, 'readonly', ['read only = yes']);
    try {
      farm.writeConfig({}, targetsWith({ name: 'readonly', dest: readOnly.dest, passwordFile: readOnly.passwordFile }));
      farm.write({ 'index.html': 'read only' });
      const commit = await farm.commit('read only');
      const push = await farm.push();
      // The daemon says "ERROR: module is read only" and hangs up; when its hang-up outruns its
      // words, rsync can only report the reset (rsync 3.5.0 does either, by chance).
      expect(push.stderr).toMatch(
        /remote: +readonly +failed +(the daemon module is read-only: set "read only = no"|cannot connect: .*Connection reset by peer)/,
      );
      expect((await farm.fanout(['deploy'])).exitCode).toBe(1);
      expect(fs.readdirSync(readOnly.dir)).toEqual([]);
      for (const d of farm.daemons) await expectAt(d.dir, commit);
    } finally {
      await readOnly.stop();
      farm.writeConfig();
    }
  });

  it("a module whose path is missing: named as such (the daemon's chdir/chroot failed), not as a password problem", async () => {
    const missing = await extraDaemon(65, 'nopath');
    fs.rmSync(missing.dir, { recursive: true });
    try {
      farm.writeConfig({}, targetsWith({ name: 'nopath', dest: missing.dest, passwordFile: missing.passwordFile }));
      farm.write({ 'index.html': 'no path' });
      const commit = await farm.commit('no path');
      const push = await farm.push();
      expect(push.stderr).toMatch(/remote: +nopath +failed +the module's path is missing on the target, or not accessible to the daemon's uid: .*@ERROR: ch(dir|root) failed/);
      expect(push.stderr).not.toMatch(/nopath +failed +.*password/);
      for (const d of farm.daemons) await expectAt(d.dir, commit);
    } finally {
      await missing.stop();
      farm.writeConfig();
    }
  });

  it('a wrong password: refused, named, not retried, and nothing on that target is counted as half-sent', async () => {
    const [web1, web2] = farm.daemons;
    if (!web1 || !web2) throw new Error('two daemons expected');
    const wrong = path.join(farm.root, 'wrong.pwd');
    fs.writeFileSync(wrong, 'not-the-password\n', { mode: 0o600 });
    const before = snapshot(web1.dir);
    let commit = base;
    try {
      farm.writeConfig({ retries: 3, retryDelay: 5 }, [
        { name: web1.name, dest: web1.dest, passwordFile: wrong },
        { name: web2.name, dest: web2.dest, passwordFile: web2.passwordFile },
      ]);
      farm.write({ 'index.html': 'password' });
      commit = await farm.commit('password');
      const push = await farm.push();
      expect(push.stderr).toMatch(/remote: +web1 +failed +the daemon refused the user or password: check passwordFile .*@ERROR: auth failed on module web1/);
      const password = fs.readFileSync(web1.passwordFile, 'utf8').trim();
      expect(push.stderr).not.toContain(password);
      const json = await farm.fanout(['deploy', '--json']);
      expect(json.stdout).toMatch(/auth failed on module web1/);
      expect(json.stdout + json.stderr).not.toContain(password);
      const history = fs.readFileSync(path.join(farm.stateDir, 'history.ndjson'), 'utf8').trim().split('\n');
      const last = JSON.parse(history.at(-1) ?? '{}') as { commit: string; targets: { name: string; status: string; attempts: number }[] };
      // a wrong password stays wrong: no retry
      expect(last.commit).toBe(commit);
      expect(last.targets.find((t) => t.name === 'web1')).toMatchObject({ status: 'failed', attempts: 1 });
      expect(snapshot(web1.dir)).toEqual(before);
      expect(targetState('web1')).toMatchObject({ commit: base, status: 'failed', attempted: [] });
      await expectAt(web2.dir, commit);
    } finally {
      farm.writeConfig();
    }
    expect((await farm.fanout(['deploy'])).exitCode).toBe(0);
    await expectAt(web1.dir, commit);
  });
});
