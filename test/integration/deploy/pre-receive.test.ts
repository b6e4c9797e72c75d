import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { GIT_IDENTITY, createFarm, type Farm } from '../../../harness/farm.js';
import { until } from '../../../harness/watcher.js';
import { diffSnapshots, snapshot, snapshotCommit } from '../../../harness/tree.js';

// push: pre-receive, for real: git push runs the deploy in git's pre-receive hook, on the pushed
// objects git still holds in quarantine, and the branch moves only when the deploy succeeded.

let farm: Farm;
let first: string;

beforeEach(async () => {
  farm = await createFarm({ targets: 2, firstHost: 100, config: { push: 'pre-receive' } });
  farm.write({ 'index.html': '<h1>v1</h1>', 'about.html': 'about v1' });
  first = await farm.commit('first');
  const pushed = await farm.push();
  expect(pushed.exitCode, pushed.stderr).toBe(0);
});

afterEach(async () => {
  await farm.cleanup();
});

async function branchOnServer(): Promise<string> {
  const { stdout } = await farm.git(['--git-dir', farm.repo, 'rev-parse', '--verify', '-q', 'refs/heads/main']);
  return stdout.trim();
}

async function expectServes(daemon: Farm['daemons'][number], commit: string): Promise<void> {
  const expected = await snapshotCommit(farm.repo, commit, farm.root);
  expect(diffSnapshots(expected, snapshot(daemon.dir)), `${daemon.name} differs from ${commit}`).toEqual([]);
}

describe('push: pre-receive', () => {
  it('installs the pre-receive hook beside post-receive, and a push that deploys is accepted', async () => {
    expect(fs.readFileSync(path.join(farm.repo, 'hooks', 'pre-receive'), 'utf8')).toContain('hook pre-receive');
    expect(await branchOnServer()).toBe(first);
    for (const daemon of farm.daemons) await expectServes(daemon, first);
    const doctor = await farm.fanout(['doctor']);
    expect(doctor.stdout).toMatch(/pre-receive hook/);
    expect(doctor.stdout).not.toMatch(/pre-receive hook.*(missing|not written)/);
  });

  it('a deploy that fails rejects the push: git push exits non-zero, the branch stays, every target serves what it served', async () => {
    farm.write({ 'index.html': '<h1>v2</h1>', 'new.html': 'new in v2' });
    farm.remove('about.html');
    const second = await farm.commit('second');
    await farm.daemons[1]?.stop();
    const pushed = await farm.push();
    expect(pushed.exitCode).not.toBe(0);
    expect(pushed.stderr).toMatch(/\[remote rejected\] +HEAD -> main \(pre-receive hook declined\)/);
    expect(pushed.stderr).toMatch(/remote: fanout: push rejected: web2 failed \(.+\); every target serves [0-9a-f]{10} again/);
    expect(await branchOnServer()).toBe(first);
    // web1 took the release, and was put back
    const web1 = farm.daemons[0];
    if (web1 === undefined) throw new Error('no web1');
    await expectServes(web1, first);
    const reasons = farm.history().map((e) => e.reason);
    expect(reasons.slice(-2)).toEqual(['push', 'auto-rollback']);
    expect(farm.history().at(-2)).toMatchObject({ commit: second });
    // git dropped the rejected commit: the farm's current deploy is the first one again
    const status = JSON.parse((await farm.fanout(['status', '--json'])).stdout) as { current: { commit: string } };
    expect(status.current.commit).toBe(first);

    // once the host is back, the same push goes through
    await farm.daemons[1]?.start();
    const again = await farm.push();
    expect(again.exitCode, again.stderr).toBe(0);
    expect(await branchOnServer()).toBe(second);
    for (const daemon of farm.daemons) await expectServes(daemon, second);
  });

  it('after a rejected push, rollback and sync know nothing of its dropped commit', async () => {
    farm.write({ 'index.html': '<h1>v2</h1>' });
    const second = await farm.commit('second');
    expect((await farm.push()).exitCode).toBe(0);
    // both hosts down: nothing changes on them, the source holds the rejected commit
    farm.write({ 'index.html': '<h1>rejected</h1>' });
    await farm.commit('rejected');
    for (const daemon of farm.daemons) await daemon.stop();
    expect((await farm.push()).exitCode).not.toBe(0);
    expect(farm.history().at(-1)).toMatchObject({ reason: 'push', pushRejected: true });
    for (const daemon of farm.daemons) await daemon.start();
    const sync = await farm.fanout(['sync']);
    expect(sync.exitCode).toBe(2);
    expect(sync.stderr.trim()).toMatch(/^fanout: the source .* holds no deployed commit \(it held [0-9a-f]{10}, a push git rejected .*\): deploy first/);
    // rollback goes to the release before the one served, never to the rejected commit
    const rollback = await farm.fanout(['rollback']);
    expect(rollback.exitCode, rollback.stderr).toBe(0);
    for (const daemon of farm.daemons) await expectServes(daemon, first);
    expect(farm.history().at(-1)).toMatchObject({ reason: 'rollback', commit: first });
    expect(second).not.toBe(first);
  });

  it('a force push the repository refuses (receive.denyNonFastForwards) is rejected before anything is deployed', async () => {
    await farm.git(['--git-dir', farm.repo, 'config', 'receive.denyNonFastForwards', 'true']);
    farm.write({ 'index.html': '<h1>amended</h1>' });
    await farm.git(['add', '-A']);
    await farm.git(['commit', '-q', '--amend', '-m', 'amended']);
    const pushed = await farm.push(['--force', 'origin', 'HEAD:main']);
    expect(pushed.exitCode).not.toBe(0);
    expect(pushed.stderr).toMatch(/remote: fanout: push rejected: refs\/heads\/main would not move forward \(a force push\), and this repository refuses that/);
    expect(await branchOnServer()).toBe(first);
    for (const daemon of farm.daemons) await expectServes(daemon, first);
  });

  it('a push that deletes the branch is rejected: the branch names what the farm serves', async () => {
    const deleted = await farm.push(['origin', ':main']);
    expect(deleted.exitCode).not.toBe(0);
    expect(deleted.stderr).toMatch(/refusing to delete refs\/heads\/main/);
    expect(await branchOnServer()).toBe(first);
  });

  it('a config that cannot be loaded rejects the push, touching nothing, and the refusal is recorded', async () => {
    const good = fs.readFileSync(farm.configFile, 'utf8');
    fs.writeFileSync(farm.configFile, `${good}targts: []\n`);
    farm.write({ 'index.html': '<h1>v2</h1>' });
    await farm.commit('second');
    const pushed = await farm.push();
    expect(pushed.exitCode).not.toBe(0);
    expect(pushed.stderr).toMatch(/remote: fanout: config .*unknown field "targts"/);
    expect(pushed.stderr).toMatch(/\[remote rejected\]/);
    expect(await branchOnServer()).toBe(first);
    for (const daemon of farm.daemons) await expectServes(daemon, first);
    expect(farm.history().at(-1)).toMatchObject({ refused: expect.stringMatching(/targts/) as unknown });
  });

  it('two pushes at once: the one that waited while the other moved the branch is rejected untouched', async () => {
    // the first push's deploy holds the lock in its before hook until the second is seen waiting
    const go = path.join(farm.root, 'go');
    farm.writeConfig({ push: 'pre-receive', hooks: { before: ['sh', '-c', `while [ ! -e '${go}' ]; do sleep 0.05; done`] } });
    const other = path.join(farm.root, 'other');
    await execa('git', ['clone', '-q', farm.clone, other]);
    fs.writeFileSync(path.join(other, 'index.html'), '<h1>theirs</h1>');
    await execa('git', ['commit', '-q', '-am', 'theirs'], { cwd: other, env: GIT_IDENTITY });
    farm.write({ 'index.html': '<h1>mine</h1>' });
    const mine = await farm.commit('mine');
    const log = path.join(farm.stateDir, 'fanout.log');
    const logText = (): string => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : '');
    const seenBefore = logText().length;
    const pushingMine = farm.push();
    await until(() => fs.readFileSync(path.join(farm.stateDir, 'lock'), 'utf8').includes('push by'), () => 'the first push never took the lock');
    const pushingTheirs = execa('git', ['push', farm.repo, 'HEAD:main'], { cwd: other, env: GIT_IDENTITY, reject: false });
    await until(() => logText().slice(seenBefore).includes('waiting for the deploy lock'), () => 'the second push never waited for the lock');
    fs.writeFileSync(go, '');
    const [first, second] = [await pushingMine, await pushingTheirs];
    expect(first.exitCode, first.stderr).toBe(0);
    expect(second.exitCode).not.toBe(0);
    expect(second.stderr).toMatch(/remote: fanout: push rejected: main is now at [0-9a-f]{10}: another push landed while this one waited; nothing was deployed/);
    expect(await branchOnServer()).toBe(mine);
    for (const daemon of farm.daemons) await expectServes(daemon, mine);
  });

  it('back to push: post-receive, init removes the pre-receive hook and a push deploys after git accepted it, as before', async () => {
    farm.writeConfig({ push: 'post-receive' });
    const init = await farm.fanout(['init']);
    expect(init.stdout).toMatch(/removed .*hooks\/pre-receive/);
    expect(fs.existsSync(path.join(farm.repo, 'hooks', 'pre-receive'))).toBe(false);
    farm.write({ 'index.html': '<h1>v2</h1>' });
    const second = await farm.commit('second');
    await farm.daemons[1]?.stop();
    const pushed = await farm.push();
    // the push went through; its deploy failed on web2 after it
    expect(pushed.exitCode, pushed.stderr).toBe(0);
    expect(pushed.stderr).toMatch(/remote: {3}web2 {2}failed/);
    expect(await branchOnServer()).toBe(second);
  });

  it('with a build, the build is kept by its ref once git has accepted the push', async () => {
    farm.writeConfig({ push: 'pre-receive', build: { command: ['sh', '-c', 'mkdir -p out && cp index.html out/'], output: 'out', timeout: 30 } });
    farm.write({ 'index.html': '<h1>built</h1>' });
    const source = await farm.commit('built');
    const pushed = await farm.push();
    expect(pushed.exitCode, pushed.stderr).toBe(0);
    const ref = await farm.git(['--git-dir', farm.repo, 'rev-parse', '--verify', '-q', `refs/fanout/builds/${source}`]);
    expect(ref.exitCode, 'the build ref').toBe(0);
    expect(farm.history().at(-1)).toMatchObject({ commit: ref.stdout.trim(), build: { source } });
    for (const daemon of farm.daemons) expect(fs.readFileSync(path.join(daemon.dir, 'index.html'), 'utf8')).toBe('<h1>built</h1>');
  });
});
