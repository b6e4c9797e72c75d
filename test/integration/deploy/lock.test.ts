import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFarm, type Farm } from '../../../harness/farm.js';

// The operator's deploy lock (fanout lock -m "why"): every push and deploy refused, saying who
// locked, since when and why, until fanout unlock; --override-lock goes through it, recorded.

let farm: Farm;
let first: string;

beforeEach(async () => {
  farm = await createFarm({ targets: 2, firstHost: 104 });
  farm.write({ 'index.html': 'v1' });
  first = await farm.commit('first');
  expect((await farm.push()).exitCode).toBe(0);
});

afterEach(async () => {
  await farm.cleanup();
});

const served = (): string[] => farm.daemons.map((d) => fs.readFileSync(path.join(d.dir, 'index.html'), 'utf8'));

describe('fanout lock', () => {
  it('refuses pushes and deploys with who, since when and why, until unlock; --override-lock goes through, recorded', async () => {
    const locked = await farm.fanout(['lock', '-m', 'incident 42: hands off'], { env: { SUDO_USER: 'carol' } });
    expect(locked.exitCode, locked.stderr).toBe(0);
    expect(locked.stdout).toMatch(/^deploys are locked by carol \(sudo as \S+\) since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC: incident 42: hands off$/m);

    const status = await farm.fanout(['status']);
    expect(status.stdout).toMatch(/^LOCKED: deploys are locked by carol .*: incident 42: hands off \(fanout unlock lifts it\)$/m);
    const json = JSON.parse((await farm.fanout(['status', '--json'])).stdout) as { lock: { by: string; reason: string } };
    expect(json.lock).toMatchObject({ reason: 'incident 42: hands off', by: expect.stringMatching(/^carol/) as unknown });
    expect((await farm.fanout(['status', '--prometheus'])).stdout).toMatch(/^fanout_deploy_locked\{farm="site"\} 1$/m);
    expect((await farm.fanout(['doctor'])).stdout).toMatch(/deploy lock +TAKEN: deploys are locked by carol/);

    // a push (post-receive): git accepts it, nothing is deployed, and the pusher is told why
    farm.write({ 'index.html': 'v2' });
    const second = await farm.commit('second');
    const pushed = await farm.push();
    expect(pushed.exitCode).toBe(0);
    expect(pushed.stderr).toMatch(/remote: fanout: deploys are locked by carol .*: incident 42: hands off; [0-9a-f]{10} was not deployed, nothing was touched/);
    expect(served()).toEqual(['v1', 'v1']);
    expect(farm.history().at(-1)).toMatchObject({ commit: second, refused: expect.stringMatching(/incident 42/) as unknown });

    const deploy = await farm.fanout(['deploy']);
    expect(deploy.exitCode).toBe(1);
    expect(deploy.stderr).toMatch(/^fanout: deploys are locked by carol .*--override-lock goes through it/);
    expect(served()).toEqual(['v1', 'v1']);

    // a second lock would hide the first one's reason
    const again = await farm.fanout(['lock', '-m', 'another']);
    expect(again.exitCode).toBe(1);
    expect(again.stderr).toMatch(/already locked by carol/);

    const through = await farm.fanout(['deploy', '--override-lock', '-m', 'the hotfix for incident 42']);
    expect(through.exitCode, through.stderr).toBe(0);
    expect(served()).toEqual(['v2', 'v2']);
    expect(farm.history().at(-1)).toMatchObject({ commit: second, message: 'the hotfix for incident 42', overrodeLock: expect.stringMatching(/^locked by carol .*incident 42/) as unknown });
    expect((await farm.fanout(['history'])).stdout).toMatch(/went through the deploy lock \(--override-lock\): locked by carol/);

    const unlocked = await farm.fanout(['unlock']);
    expect(unlocked.stdout).toMatch(/^lifted the deploy lock \(it was locked by carol/);
    expect((await farm.fanout(['status', '--prometheus'])).stdout).toMatch(/^fanout_deploy_locked\{farm="site"\} 0$/m);
    farm.write({ 'index.html': 'v3' });
    await farm.commit('third');
    expect((await farm.push()).exitCode).toBe(0);
    expect(served()).toEqual(['v3', 'v3']);
  });

  it('with push: pre-receive the push itself is rejected, the branch unmoved', async () => {
    farm.writeConfig({ push: 'pre-receive' });
    expect((await farm.fanout(['init'])).exitCode).toBe(0);
    expect((await farm.fanout(['lock', '-m', 'release freeze until Monday'])).exitCode).toBe(0);
    farm.write({ 'index.html': 'v2' });
    await farm.commit('second');
    const pushed = await farm.push();
    expect(pushed.exitCode).not.toBe(0);
    expect(pushed.stderr).toMatch(/remote: fanout: push rejected: deploys are locked by .*: release freeze until Monday/);
    expect(pushed.stderr).toMatch(/\[remote rejected\]/);
    const branch = await farm.git(['--git-dir', farm.repo, 'rev-parse', 'refs/heads/main']);
    expect(branch.stdout.trim()).toBe(first);
    expect(served()).toEqual(['v1', 'v1']);
  });

  it('takes a reason, one clear line without it; unlock with nothing to lift says so', async () => {
    const bare = await farm.fanout(['lock']);
    expect(bare.exitCode).not.toBe(0);
    expect(bare.stderr.trim().split('\n')).toHaveLength(1);
    expect(bare.stderr).toMatch(/say why: fanout lock -m/);
    const blank = await farm.fanout(['lock', '-m', '  ']);
    expect(blank.exitCode).toBe(2);
    expect(blank.stderr).toMatch(/fanout lock needs a reason/);
    const nothing = await farm.fanout(['unlock']);
    expect(nothing.exitCode).toBe(0);
    expect(nothing.stdout.trim()).toBe('deploys were not locked; nothing to lift');
  });
});
