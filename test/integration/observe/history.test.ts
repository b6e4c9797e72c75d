import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFarm, type Farm } from '../../../harness/farm.js';

// Why a deploy went wrong, read back from the history: a target's reason as its push printed it,
// one deploy whole, and pushes refused (bad input, a config that cannot be loaded) recorded.

let farm: Farm;
let v1 = '';

// each case has a farm of its own that deployed v1: none depends on what another did
beforeEach(async () => {
  farm = await createFarm({ targets: 2, firstHost: 216 });
  farm.write({ 'index.html': 'v1' });
  v1 = await farm.commit('v1');
  const first = await farm.push();
  if (!/deployed/.test(first.stderr)) throw new Error(`the first push did not deploy: ${first.stderr}`);
});

afterEach(async () => {
  await farm.cleanup();
});

function lastId(): number {
  return farm.history().at(-1)?.id ?? 0;
}

describe('why a deploy failed, in fanout history', () => {
  it('a target whose daemon is down: history shows the line its push printed, and history N the deploy whole', async () => {
    const web2 = farm.daemons[1];
    if (web2 === undefined) throw new Error('two daemons expected');
    await web2.stop();
    try {
      farm.write({ 'index.html': 'v2', 'about.html': 'about' });
      const v2 = await farm.commit('v2 with an about page');
      const push = await farm.push();
      const printed = /remote: +web2 +failed +(.+)$/m.exec(push.stderr)?.[1]?.trim();
      expect(printed, push.stderr).toMatch(/cannot connect/);
      const id = lastId();

      const list = await farm.fanout(['history']);
      expect(list.exitCode).toBe(0);
      const rowAt = list.stdout.split('\n').findIndex((l) => l.startsWith(`${id} `));
      expect(list.stdout.split('\n')[rowAt]).toMatch(/push .* web1 ok [0-9.]+s, web2 failed [0-9.]+s$/);
      expect(list.stdout.split('\n')[rowAt + 1]).toBe(`    web2: ${printed ?? ''}`);

      // execa drops the output's last newline: put it back
      const whole = await farm.fanout(['history', String(id)]);
      whole.stdout += '\n';
      expect(whole.exitCode).toBe(0);
      expect(whole.stdout).toMatch(new RegExp(`^deploy #${id}\\n  outcome +partial\\n  by +git push by .+\\n  reason +push\\n  commit +${v2.slice(0, 10)} "v2 with an about page"\\n  started +\\d{4}-\\d\\d-\\d\\d .*\\n  finished +.*, took [0-9.]+s\\n`));
      expect(whole.stdout).toContain(`\nwhy:\n  web2: ${printed ?? ''}\n`);
      expect(whole.stdout).toMatch(/\nweb1 +ok +changed paths +2 +0 +\d+ B +1 +[0-9.]+s +-\n/);
      expect(whole.stdout).toMatch(/\nweb2 +failed +(changed paths|full) +0 +0 +0 B +\d+ +[0-9.]+s +-\n/);

      const json = await farm.fanout(['history', `#${id}`, '--json']);
      expect(JSON.parse(json.stdout)).toEqual(farm.history().at(-1));

      const unknown = await farm.fanout(['history', String(id + 50)]);
      expect(unknown.exitCode).toBe(2);
      expect(unknown.stderr).toBe(`fanout: no deploy #${id + 50} in the history (the last is #${id}); fanout history lists them`);
    } finally {
      await web2.start();
    }
    expect((await farm.fanout(['sync'])).exitCode).toBe(0);
  });
});

describe('a refused push is recorded: in the log and the history, with the line its pusher saw', () => {
  it('bad input (a commit with no files): refused, on no rollback stack, and the tip is said to be refused', async () => {
    farm.write({ 'index.html': 'v2' });
    await farm.commit('v2');
    await farm.push();
    const before = lastId();
    await farm.git(['rm', '-r', '-q', '.']);
    const empty = await farm.commit('empty');
    const push = await farm.push();
    const saw = /^remote: fanout: (commit [0-9a-f]{10} has no files.*)$/m.exec(push.stderr)?.[1]?.trim();
    expect(saw, push.stderr).toBeDefined();
    expect(farm.history().at(-1)).toMatchObject({ id: before + 1, commit: empty, reason: 'push', targets: [], refused: saw });
    const list = (await farm.fanout(['history'])).stdout.split('\n');
    const rowAt = list.findIndex((l) => l.startsWith(`${before + 1} `));
    expect(list[rowAt]).toMatch(/ push .* refused$/);
    expect(list[rowAt + 1]).toBe(`    refused: ${saw ?? ''}`);
    expect(fs.readFileSync(path.join(farm.stateDir, 'fanout.log'), 'utf8')).toContain('"msg":"deploy refused"');
    const status = await farm.fanout(['status']);
    expect(status.exitCode).toBe(1);
    expect(status.stdout).toContain(`not deployed: refused: ${saw ?? ''}`);
    // the refusal deployed nothing: a rollback goes back from what the farm serves (v2) to v1
    const rollback = await farm.fanout(['rollback', '--dry-run', '--json']);
    expect((JSON.parse(rollback.stdout) as { deploys: { commit: string }[] }).deploys[0]?.commit).toBe(v1);
    await farm.git(['reset', '-q', '--hard', 'HEAD~1']);
    await farm.git(['push', '-q', '--force', 'origin', 'HEAD:main']);
  });

  it('a config that cannot be loaded: the pusher sees why, and the farm history records it once the config is fixed', async () => {
    const before = lastId();
    fs.appendFileSync(farm.configFile, 'concurrrency: 4\n');
    farm.write({ 'index.html': 'v3' });
    const v3 = await farm.commit('v3 under a broken config');
    const push = await farm.push();
    const saw = /^remote: fanout: (config .*)$/m.exec(push.stderr)?.[1]?.trim();
    expect(saw, push.stderr).toMatch(/concurrrency/);
    expect(push.stderr).not.toMatch(/remote: fanout: warning/);
    // nothing went anywhere
    for (const d of farm.daemons) expect(fs.readFileSync(path.join(d.dir, 'index.html'), 'utf8')).toBe('v1');
    expect(farm.history().at(-1)).toMatchObject({ id: before + 1, commit: v3, subject: 'v3 under a broken config', reason: 'push', targets: [], refused: saw });
    expect(fs.readFileSync(path.join(farm.stateDir, 'fanout.log'), 'utf8')).toContain('"msg":"push refused: the config cannot be loaded"');

    farm.writeConfig();
    const whole = await farm.fanout(['history', String(before + 1)]);
    whole.stdout += '\n';
    expect(whole.stdout).toMatch(/^deploy #\d+\n {2}outcome +refused\n/);
    expect(whole.stdout).toContain(`\nwhy:\n  refused: ${saw ?? ''}\n`);
    expect((await farm.fanout(['status'])).stdout).toContain(`not deployed: refused: ${saw ?? ''}`);
    // the next push deploys as usual, under the next id
    await farm.git(['commit', '-q', '--allow-empty', '-m', 'v3 again']);
    const next = await farm.push();
    expect(next.stderr, next.stderr).toMatch(/deployed .* to 2\/2 targets/);
    expect(lastId()).toBe(before + 2);
    expect((await farm.fanout(['status'])).exitCode).toBe(0);
  });

  it("a config fanout may not believe (writable by its group): the refusal is recorded in the pushed repository's fanout/", async () => {
    const before = lastId();
    fs.chmodSync(farm.configFile, 0o664);
    farm.write({ 'index.html': 'v2' });
    const v2 = await farm.commit('v2 under a config others may write');
    const push = await farm.push();
    const saw = /^remote: fanout: (config .*)$/m.exec(push.stderr)?.[1]?.trim();
    expect(saw, push.stderr).toMatch(/writable by its group/);
    expect(farm.history().at(-1)).toMatchObject({ id: before + 1, commit: v2, targets: [], refused: saw });
    fs.chmodSync(farm.configFile, 0o644);
    const list = (await farm.fanout(['history'])).stdout.split('\n');
    expect(list[list.findIndex((l) => l.startsWith(`${before + 1} `)) + 1]).toBe(`    refused: ${saw ?? ''}`);
  });
});
