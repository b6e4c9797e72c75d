import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CLI, createFarm, type Farm } from '../../../harness/farm.js';
import { until } from '../../../harness/watcher.js';

// `fanout log` over the log real pushes wrote: a readable line per record, one deploy's lines,
// the levels, and --follow across a logrotate.

let farm: Farm;

beforeEach(async () => {
  farm = await createFarm({ targets: 2, firstHost: 214 });
  farm.write({ 'index.html': 'v1' });
  await farm.commit('v1');
  await farm.push();
});

afterEach(async () => {
  await farm.cleanup();
});

describe('fanout log', () => {
  it('prints a readable line per record, info and up unless asked for less', async () => {
    const shown = await farm.fanout(['log']);
    expect(shown.exitCode).toBe(0);
    expect(shown.stdout).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} INFO {2}\[\d+\] deploy started deployId=1 commit=[0-9a-f]{40} reason=push startedBy="git push[^"]*"/m);
    expect(shown.stdout).toMatch(/INFO {2}\[\d+\] deploy finished deployId=1/);
    // a target down, retried: the retry is a warning, and --level warn shows it without the rest
    farm.writeConfig({ retries: 1, retryDelay: 0.1 });
    await farm.daemons[1]?.stop();
    farm.write({ 'index.html': 'v2' });
    await farm.commit('v2');
    await farm.push();
    const warnings = await farm.fanout(['log', '--level', 'warn']);
    expect(warnings.stdout).toMatch(/WARN {2}\[\d+\] rsync failed; retrying target=web2 attempt=1 error=".+"/);
    expect(warnings.stdout).not.toContain('INFO');
    // --json: the records as the file holds them, for a pipe
    const json = await farm.fanout(['log', '--json']);
    const lines = json.stdout.trim().split('\n');
    expect(lines.length).toBeGreaterThan(3);
    for (const line of lines) expect(JSON.parse(line)).toHaveProperty('msg');
  });

  it("shows one deploy's lines with --deploy N, and says so when the log does not hold it", async () => {
    farm.write({ 'index.html': 'v2' });
    await farm.commit('v2');
    await farm.push();
    const second = await farm.fanout(['log', '--deploy', '2']);
    expect(second.exitCode).toBe(0);
    const lines = second.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/\] deploy started deployId=2 /);
    expect(lines.at(-1)).toMatch(/\] deploy finished deployId=2 /);
    expect(lines.filter((line) => / target done target=web\d /.test(line))).toHaveLength(2);
    expect(second.stdout).not.toMatch(/deployId=1/);
    const missing = await farm.fanout(['log', '--deploy', '9']);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    expect(missing.stderr).toContain('deploy 9 is not in');
  });

  it('--follow prints what later pushes write, in the new file after logrotate moved the old one', async () => {
    const follower = execa(process.execPath, [CLI, '--config', farm.configFile, 'log', '--follow'], { reject: false, all: true });
    let seen = '';
    follower.all?.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
    });
    try {
      await until(() => seen.includes('deploy finished deployId=1'), () => `fanout log --follow never showed deploy 1 finish:\n${seen}`);
      farm.write({ 'index.html': 'v2' });
      await farm.commit('v2');
      await farm.push();
      await until(() => seen.includes('deploy finished deployId=2'), () => `fanout log --follow never showed deploy 2 finish:\n${seen}`);
      // logrotate's way (create): the file moved away, a new one written by the next fanout
      const log = path.join(farm.stateDir, 'fanout.log');
      fs.renameSync(log, `${log}.1`);
      farm.write({ 'index.html': 'v3' });
      await farm.commit('v3');
      await farm.push();
      await until(() => seen.includes('deploy finished deployId=3'), () => `fanout log --follow never showed deploy 3 finish:\n${seen}`);
      expect(seen.match(/deploy started deployId=1 /g)).toHaveLength(1);
    } finally {
      follower.kill('SIGTERM');
      await follower;
    }
  });

  it("lets a log shipper's group read the log: the modes it finds are kept, and doctor accepts them", async () => {
    const log = path.join(farm.stateDir, 'fanout.log');
    const adm = Number((await execa('getent', ['group', 'adm'])).stdout.split(':')[2]);
    fs.chownSync(farm.stateDir, fs.statSync(farm.stateDir).uid, adm);
    fs.chownSync(log, fs.statSync(log).uid, adm);
    fs.chmodSync(farm.stateDir, 0o750);
    fs.chmodSync(log, 0o640);
    farm.write({ 'index.html': 'v2' });
    await farm.commit('v2');
    await farm.push();
    expect(farm.history().at(-1)?.targets.map((t) => t.status)).toEqual(['ok', 'ok']);
    expect([fs.statSync(farm.stateDir).mode & 0o777, fs.statSync(log).mode & 0o777, fs.statSync(log).gid]).toEqual([0o750, 0o640, adm]);
    expect((await farm.fanout(['log'])).stdout).toMatch(/deploy finished deployId=2/);
    const doctor = JSON.parse((await farm.fanout(['doctor', '--json'])).stdout) as { checks: { name: string; ok: boolean; detail: string }[] };
    expect(doctor.checks.find((c) => c.name === 'state directory')).toMatchObject({ ok: true, detail: `${farm.stateDir}, mode 750` });
  });
});
