import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createFarm, type Farm } from '../../../harness/farm.js';
import { argumentsOf } from '../../../harness/processes.js';
import { startSshd, type Sshd } from '../../../harness/sshd.js';
import { diffSnapshots, snapshot, snapshotCommit } from '../../../harness/tree.js';

// Relays (docs/guides/many-hosts.md): two zones of two rsync daemons each, a real sshd as each zone's
// relay. The update server sends each release once to each relay; the relay's rsync sends it on.

let farm: Farm;
let relays: Sshd[] = [];
let sshdRoot: string;

beforeAll(() => {
  sshdRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'fanout-relays-sshd-'));
});

afterAll(() => {
  fs.rmSync(sshdRoot, { recursive: true, force: true });
});

/** What the many-hosts guide asks of a relay's sshd: a session whose client went silent ends within seconds. */
const GUIDE_SSHD = ['ClientAliveInterval 2', 'ClientAliveCountMax 3'];

beforeEach(async () => {
  relays = [await startSshd({ hostIndex: 88, root: sshdRoot, extraConfig: GUIDE_SSHD }), await startSshd({ hostIndex: 89, root: sshdRoot, extraConfig: GUIDE_SSHD })];
  farm = await createFarm({ targets: 4, firstHost: 84 });
});

afterEach(async () => {
  await Promise.all(relays.map((r) => r.stop()));
  await farm.cleanup();
});

/** Where relay i keeps the release and its zone's passwords. */
const relayDir = (i: number): string => path.join(farm.root, `relay ${i} 'dir'`);

/** web1, web2 in zone a (relay 0), web3, web4 in zone b (relay 1). */
function zoned(extra: Record<string, unknown> = {}, zoneExtra: Record<string, unknown> = {}): void {
  const targets = farm.daemons.map((d, i) => ({ name: d.name, dest: d.dest, passwordFile: d.passwordFile, zone: i < 2 ? 'a' : 'b' }));
  const relay = (i: number): Record<string, unknown> => {
    const sshd = relays[i];
    if (sshd === undefined) throw new Error('no sshd');
    return { dest: `${sshd.user}@${sshd.address}:${relayDir(i)}`, ssh: { port: sshd.port, identityFile: sshd.identityFile, knownHostsFile: sshd.knownHostsFile } };
  };
  farm.writeConfig({ zones: { a: { relays: [relay(0)], ...zoneExtra }, b: { relays: [relay(1)], ...zoneExtra } }, ...extra }, targets);
}

/** v1 pushed and deployed, then a commit (its hash) that adds `bytes` of big.bin: a pass slow enough to be caught in. */
async function v1ThenBig(bytes: number): Promise<string> {
  farm.write({ 'index.html': 'v1' });
  await farm.commit('v1');
  expect((await farm.push()).exitCode).toBe(0);
  farm.write({ 'big.bin': 'x'.repeat(bytes), 'index.html': 'v2' });
  return farm.commit('v2');
}

/** Target i is receiving big.bin (rsync's temp file, or --delay-updates' directory, is there). */
const receiving = (i: number): boolean => fs.readdirSync(farm.daemons[i]?.dir ?? '').some((name) => name.startsWith('.big.bin.') || name === '.~tmp~');

/** The rsyncs relay i runs now, wherever they stand in the process tree (one sshd let go of is init's). */
function rsyncsOfRelay(i: number): number[] {
  const release = path.join(relayDir(i), 'release');
  return fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p) && argumentsOf(Number(p))[0] === 'rsync' && argumentsOf(Number(p)).some((a) => a.startsWith(release))).map(Number);
}

/** The one process here whose arguments hold all of `words`. */
function processWith(words: readonly string[]): number {
  const found = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p) && words.every((w) => argumentsOf(Number(p)).includes(w)));
  if (found.length !== 1) throw new Error(`${found.length} processes with ${words.join(' ')}`);
  return Number(found[0]);
}

/** How many commands a relay's sshd ran: one per rsync it was asked to run, and the checks. */
const sessions = (i: number): number => (fs.readFileSync(path.join(relays[i]?.dir ?? '', 'sshd.log'), 'utf8').match(/Starting session: command/g) ?? []).length;

interface Outcome {
  name: string;
  status: string;
  via?: string;
}

const lastTargets = (): Outcome[] => farm.history().at(-1)?.targets ?? [];

async function expectEveryTargetAt(commit: string, dirOf: (i: number) => string = (i) => farm.daemons[i]?.dir ?? ''): Promise<void> {
  const expected = await snapshotCommit(farm.repo, commit, farm.root);
  // the revision file is fanout's own, written into each release beside what the commit has
  for (let i = 0; i < farm.daemons.length; i += 1) expect(diffSnapshots(expected, snapshot(dirOf(i))).filter((d) => d !== 'extra "REVISION"'), farm.daemons[i]?.name).toEqual([]);
}

// ssh sessions are slow to start on a busy machine: each case allows for it
describe('relays', { timeout: 240_000 }, () => {
  it('send each zone the release from the relay, then only what changed; the relay holds its zone\'s passwords and nothing else', async () => {
    zoned();
    farm.write({ 'index.html': 'v1', 'css/site.css': 'body{}', "odd 'name'\n.html": 'x' });
    const first = await farm.commit('v1');
    const push = await farm.push();
    expect(push.exitCode, push.stderr).toBe(0);
    await expectEveryTargetAt(first);
    expect(lastTargets().map((t) => [t.name, t.status, t.via])).toEqual([
      ['web1', 'ok', expect.stringContaining(relays[0]?.address ?? '?')],
      ['web2', 'ok', expect.stringContaining(relays[0]?.address ?? '?')],
      ['web3', 'ok', expect.stringContaining(relays[1]?.address ?? '?')],
      ['web4', 'ok', expect.stringContaining(relays[1]?.address ?? '?')],
    ]);
    expect(push.stderr).toMatch(/remote: +web1 +ok +3 sent .*via /);
    // each relay holds the release, and the passwords of its own zone only
    expect(diffSnapshots(await snapshotCommit(farm.repo, first, farm.root), snapshot(path.join(relayDir(0), 'release')))).toEqual([]);
    expect(fs.readdirSync(path.join(relayDir(0), 'secrets')).sort()).toEqual(['web1', 'web2']);
    expect(fs.readdirSync(path.join(relayDir(1), 'secrets')).sort()).toEqual(['web3', 'web4']);
    expect(fs.statSync(path.join(relayDir(0), 'secrets', 'web1')).mode & 0o777).toBe(0o600);
    // the targets' rsyncs ran on the relays, over each relay's one connection
    expect(sessions(0)).toBeGreaterThanOrEqual(4);

    farm.write({ 'index.html': 'v2' });
    const second = await farm.commit('v2');
    const again = await farm.push();
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/remote: +web3 +ok +1 sent .*via /);
    await expectEveryTargetAt(second);
    const state = JSON.parse(fs.readFileSync(path.join(farm.stateDir, 'state.json'), 'utf8')) as { relays: Record<string, { commit: string }> };
    expect(Object.values(state.relays).map((r) => r.commit)).toEqual([second, second]);
  });

  it('a relay that cannot be reached: its zone is sent directly, and the deploy says so', async () => {
    zoned();
    await relays[1]?.stop();
    // doctor asks each relay first
    const doctor = await farm.fanout(['doctor']);
    expect(doctor.stdout).toMatch(/ok +relay .*127\.0\.0\.88.* +zone a: ssh connects and rsync runs there/);
    expect(doctor.stdout).toMatch(/problem +relay .*127\.0\.0\.89.* +ssh cannot reach 127\.0\.0\.89 on port \d+: is sshd running there, and is ssh\.port right\? \(ssh exit 255/);
    farm.write({ 'index.html': 'v1' });
    const commit = await farm.commit('v1');
    const push = await farm.push();
    expect(push.exitCode, push.stderr).toBe(0);
    expect(push.stderr).toMatch(/relay .*127\.0\.0\.89.* \(zone b\) cannot be used: ssh cannot reach/);
    expect(push.stderr).toMatch(/zone b: no relay took the release; its 2 targets are sent directly/);
    await expectEveryTargetAt(commit);
    expect(lastTargets().map((t) => t.via === undefined)).toEqual([false, false, true, true]);
  });

  it('doctor names a relay whose sshd would keep the session of an update server cut off from it', async () => {
    await relays[1]?.stop();
    relays[1] = await startSshd({ hostIndex: 89, root: sshdRoot });
    zoned();
    const doctor = await farm.fanout(['doctor']);
    expect(doctor.exitCode).toBe(1);
    expect(doctor.stdout).toMatch(/ok +relay .*127\.0\.0\.88.* +zone a: ssh connects and rsync runs there \(a session starts in \d+ ms/);
    expect(doctor.stdout).not.toMatch(/127\.0\.0\.88.*did not probe/);
    expect(doctor.stdout).toMatch(
      /problem +relay .*127\.0\.0\.89.* +zone b: ssh connects and rsync runs there .*, but its sshd did not probe a silent client within 10s \(ClientAliveInterval unset, or longer\).*; fix: set ClientAliveInterval 2 and ClientAliveCountMax 3 in its sshd_config/,
    );
  });

  it('a relay that dies mid-deploy: the targets it had in hand are sent directly, every host ends on the commit and the journal says so', async () => {
    // slow enough to be caught mid-transfer: 600 kB at 200 kB/s
    zoned({ rsync: { args: ['--bwlimit=200'] } });
    const commit = await v1ThenBig(600_000);
    const pushing = farm.push();
    // both of zone a's targets are receiving from relay 0 (rsync's temp file is there): the relay's host dies
    while (!(receiving(0) && receiving(1))) await sleep(20);
    await relays[0]?.crash();
    const push = await pushing;
    expect(push.exitCode, push.stderr).toBe(0);
    expect(push.stderr).toMatch(/relay .*127\.0\.0\.88.* was lost mid-deploy: the targets it had left are sent directly/);
    await expectEveryTargetAt(commit);
    const outcomes = lastTargets();
    expect(outcomes.map((t) => [t.name, t.status, t.via === undefined])).toEqual([
      ['web1', 'ok', true],
      ['web2', 'ok', true],
      ['web3', 'ok', false],
      ['web4', 'ok', false],
    ]);
    const state = JSON.parse(fs.readFileSync(path.join(farm.stateDir, 'state.json'), 'utf8')) as { targets: Record<string, { commit: string; attempted: string[] }> };
    for (const name of ['web1', 'web2', 'web3', 'web4']) expect(state.targets[name]).toMatchObject({ commit, attempted: [] });
  });

  it('a relay cut off from the update server mid-pass, its sshd set as the guide says: its rsyncs end there, and the targets are sent directly', async () => {
    // ClientAliveInterval 2 and ClientAliveCountMax 3 in the guide; shorter here
    await relays[0]?.stop();
    relays[0] = await startSshd({ hostIndex: 88, root: sshdRoot, extraConfig: ['ClientAliveInterval 1', 'ClientAliveCountMax 2'] });
    // slow enough that a relay's rsync left running would still be sending long after the cut: 600 kB at 50 kB/s
    zoned({ rsync: { args: ['--bwlimit=50'] } });
    const commit = await v1ThenBig(600_000);
    await farm.pushWithoutDeploy();
    const deploying = farm.fanout(['deploy']);
    while (!(receiving(0) && receiving(1))) await sleep(20);
    // the cut: the update server's connection to relay 0 stops answering (its ssh master stopped)
    const master = processWith(['ControlMaster=yes', relays[0]?.address ?? '?']);
    process.kill(master, 'SIGSTOP');
    try {
      expect(rsyncsOfRelay(0).length).toBeGreaterThan(0);
      while (rsyncsOfRelay(0).length > 0) await sleep(50);
      // they ended mid-file, not by finishing it
      for (const i of [0, 1]) expect(fs.existsSync(path.join(farm.daemons[i]?.dir ?? '', 'big.bin'))).toBe(false);
    } finally {
      process.kill(master, 'SIGCONT');
    }
    const result = await deploying;
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout + result.stderr).toMatch(/relay .*127\.0\.0\.88.* was lost mid-deploy: the targets it had left are sent directly/);
    await expectEveryTargetAt(commit);
    expect(lastTargets().map((t) => [t.name, t.status, t.via === undefined])).toEqual([
      ['web1', 'ok', true],
      ['web2', 'ok', true],
      ['web3', 'ok', false],
      ['web4', 'ok', false],
    ]);
  });

  it('a relay rebuilt at the same address (its directory gone): its release is sent whole, and no target loses a file', async () => {
    zoned();
    farm.write({ 'index.html': 'v1', 'assets/a.js': 'a', 'assets/b.css': 'b', 'assets/old.js': 'old' });
    const first = await farm.commit('v1');
    expect((await farm.push()).exitCode).toBe(0);
    // each relay notes, beside its release, which commit it holds
    expect(fs.readFileSync(path.join(relayDir(0), 'release-commit'), 'utf8').trim()).toBe(first);
    fs.rmSync(relayDir(0), { recursive: true, force: true });
    // a commit that adds a file beside others and removes one: the targets' prune of assets/ is
    // made from the relay's release, which must hold the whole commit
    farm.remove('assets/old.js');
    farm.write({ 'assets/new.js': 'new' });
    const commit = await farm.commit('v2');
    const push = await farm.push();
    expect(push.exitCode, push.stderr).toBe(0);
    await expectEveryTargetAt(commit);
    expect(push.stderr).toMatch(/relay .*127\.0\.0\.88.* \(zone a\) is not known to hold [0-9a-f]{10}, the release fanout last sent it \(no note of it there\): it is sent the release whole/);
    expect(push.stderr).not.toMatch(/127\.0\.0\.89.* is not known to hold/);
    expect(lastTargets().every((t) => t.status === 'ok' && t.via !== undefined)).toBe(true);
    expect(diffSnapshots(await snapshotCommit(farm.repo, commit, farm.root), snapshot(path.join(relayDir(0), 'release')))).toEqual([]);
  });

  it('a pass through a relay that lasts longer than the timeout is no stall: the relay sends, and the target is ok at the first attempt', async () => {
    // 400 kB at 100 kB/s through each relay: about 4 s a pass, past the 3 s (+1) a local rsync may
    // go without reading or writing. The process here is an ssh client whose counters never move.
    zoned({ timeout: 3, retries: 0, rsync: { args: ['--bwlimit=100'] } });
    const commit = await v1ThenBig(400_000);
    const push = await farm.push();
    expect(push.exitCode, push.stderr).toBe(0);
    expect(push.stderr).not.toMatch(/frozen or gone/);
    await expectEveryTargetAt(commit);
    expect(lastTargets().map((t) => [t.name, t.status, t.via === undefined])).toEqual([
      ['web1', 'ok', false],
      ['web2', 'ok', false],
      ['web3', 'ok', false],
      ['web4', 'ok', false],
    ]);
  });

  it('a target frozen mid-transfer behind a relay: its pass is stopped on the relay within the timeout and named as such; the rest of the farm is done', async () => {
    zoned({ timeout: 2, retries: 0, rsync: { args: ['--bwlimit=100'] } });
    const commit = await v1ThenBig(300_000);
    await farm.pushWithoutDeploy();
    const web1 = farm.daemons[0];
    if (web1 === undefined) throw new Error('no web1');
    const deploying = farm.fanout(['deploy']);
    try {
      while (!receiving(0)) await sleep(20);
      web1.signal('SIGSTOP');
      const result = await deploying;
      expect(result.exitCode, result.stderr).toBe(1);
      // fanout's watch on the relay's rsync, or (frozen while the file list was awaited) rsync's own timeout there
      expect(result.stdout).toMatch(
        /web1 +failed +timed out waiting for the target to send or receive data \((nothing from the target for 3s: its rsync is frozen or gone; fanout stopped the transfer|rsync exit 30: .*io timeout after 2 seconds).*\(sent through relay /,
      );
      // the relay's rsync for web1 was stopped, not left behind
      expect(rsyncsOfRelay(0)).toEqual([]);
    } finally {
      web1.signal('SIGCONT');
      await web1.stop();
      await web1.start();
    }
    expect(lastTargets().map((t) => [t.name, t.status])).toEqual([
      ['web1', 'failed'],
      ['web2', 'ok'],
      ['web3', 'ok'],
      ['web4', 'ok'],
    ]);
    zoned();
    expect((await farm.fanout(['deploy'])).exitCode).toBe(0);
    await expectEveryTargetAt(commit);
  });

  it('with slots and a canary in one zone then a batch across both: staged through the relays, checked, switched; a rollback is a switch that asks no relay', async () => {
    // each target's check: the release its `current` serves is the one deployed
    const check = ['sh', '-c', `test "$(cat "${farm.root}/rsyncd-$FANOUT_TARGET/www/current/REVISION")" = "$FANOUT_COMMIT"`];
    zoned({ layout: 'slots', slotGrace: 0, revisionFile: 'REVISION', checks: { command: check, retries: 0 }, rollout: { canary: ['web3'], batch: 3 } });
    farm.write({ 'index.html': 'v1', 'css/site.css': 'body{}' });
    const first = await farm.commit('v1');
    expect((await farm.push()).exitCode).toBe(0);
    farm.write({ 'index.html': 'v2' });
    const second = await farm.commit('v2');
    const push = await farm.push();
    expect(push.exitCode, push.stderr).toBe(0);
    const entry = farm.history().at(-1);
    expect(entry?.rollout?.waves).toEqual([['web3'], ['web1', 'web2', 'web4']]);
    expect(entry?.rollout?.checks.every((c) => c.ok)).toBe(true);
    expect(entry?.targets.map((t) => [t.name, t.status, t.slot, t.via?.includes(relays[t.name === 'web1' || t.name === 'web2' ? 0 : 1]?.address ?? '?')])).toEqual([
      ['web1', 'ok', '2', true],
      ['web2', 'ok', '2', true],
      ['web3', 'ok', '2', true],
      ['web4', 'ok', '2', true],
    ]);
    await expectEveryTargetAt(second, (i) => path.join(farm.daemons[i]?.dir ?? '', 'current'));

    const asked = [sessions(0), sessions(1)];
    const back = await farm.fanout(['rollback']);
    expect(back.exitCode, back.stderr).toBe(0);
    await expectEveryTargetAt(first, (i) => path.join(farm.daemons[i]?.dir ?? '', 'current'));
    // nothing to send: the slots held the release, and no relay was asked anything
    expect([sessions(0), sessions(1)]).toEqual(asked);
  });
});
