import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createFarm, type Farm } from '../../../harness/farm.js';
import { diffSnapshots, snapshot } from '../../../harness/tree.js';
import { startWatch as startFanoutWatch, until, type Watcher } from '../../../harness/watcher.js';

let farm: Farm;
let watcher: Watcher | undefined;

beforeAll(async () => {
  farm = await createFarm({ targets: 3, firstHost: 42, config: { retryDelay: 0.3, watch: { maxRetryDelay: 1 } } });
  farm.write({ 'index.html': 'home', 'css/site.css': 'body{}' });
  await farm.commit('site');
  await farm.push();
});

afterEach(async () => {
  await stopWatch();
});

afterAll(async () => {
  await farm.cleanup();
});

async function startWatch(): Promise<Watcher> {
  watcher = await startFanoutWatch(farm.configFile);
  return watcher;
}

async function stopWatch(): Promise<number | undefined> {
  const running = watcher;
  watcher = undefined;
  return running?.stop();
}

function differences(dir: string): string[] {
  return diffSnapshots(snapshot(farm.source), snapshot(dir));
}

async function converged(daemons = farm.daemons): Promise<void> {
  await until(
    () => daemons.every((d) => differences(d.dir).length === 0),
    () => daemons.map((d) => `${d.name}: ${differences(d.dir).join('; ')}`).join('\n'),
  );
}

function src(rel: string): string {
  return path.join(farm.source, rel);
}

function watchBatches(): number {
  return fs
    .readFileSync(path.join(farm.stateDir, 'history.ndjson'), 'utf8')
    .trim()
    .split('\n')
    .filter((l) => l.includes('"reason":"watch"')).length;
}

describe('fanout watch', () => {
  it('mirrors creates, edits, chmods, deletes and renames of files and directories, awkward names included', async () => {
    await startWatch();
    fs.writeFileSync(src('new.html'), 'new');
    fs.mkdirSync(src('a/b/c'), { recursive: true });
    fs.writeFileSync(src('a/b/c/deep.html'), 'deep');
    fs.writeFileSync(src('with space\nand newline.html'), 'odd');
    fs.writeFileSync(src('-dash ünï.html'), 'odd too');
    await converged();

    fs.appendFileSync(src('index.html'), ' edited');
    fs.chmodSync(src('css/site.css'), 0o755);
    fs.rmSync(src('new.html'));
    fs.renameSync(src('a/b'), src('a/moved'));
    fs.renameSync(src('-dash ünï.html'), src('renamed.html'));
    await converged();
    for (const d of farm.daemons) {
      expect(fs.existsSync(path.join(d.dir, 'a/b'))).toBe(false);
      expect(fs.statSync(path.join(d.dir, 'css/site.css')).mode & 0o111).toBe(0o111);
    }
    fs.rmSync(src('a'), { recursive: true });
    await converged();
    const verify = await farm.fanout(['verify']);
    expect(verify.stdout).not.toContain('drift');
    expect(verify.exitCode).toBe(0);
    expect(await stopWatch()).toBe(0);
  });

  it("config/fanout.logrotate, run by the real logrotate, rotates the log of a running watch, which goes on writing into the new file", async () => {
    const running = await startWatch();
    const pid = running.child.pid ?? 0;
    const log = path.join(farm.stateDir, 'fanout.log');
    // the shipped snippet, for this farm: its log, root as the user, and for `systemctl reload`
    // what systemd runs then, the shipped unit's own ExecReload with the watcher as its main process
    const config = (name: string): string => fs.readFileSync(path.resolve(import.meta.dirname, '../../../config', name), 'utf8');
    const reload = /^ExecReload=(.*)$/m.exec(config('fanout-watch.service'))?.[1]?.replace('$MAINPID', String(pid));
    expect(reload).toBe(`/bin/kill -HUP ${pid}`);
    const snippet = config('fanout.logrotate')
      .replace('/srv/git/site.git/fanout/fanout.log', log)
      .replace(/\bgit git\b/g, 'root root')
      .replace(/\bgit adm\b/g, 'root adm')
      .replace(/systemctl reload fanout-watch\.service/, reload ?? '');
    expect(snippet).toContain(`/bin/kill -HUP ${pid}`);
    const conf = path.join(farm.root, 'logrotate.conf');
    fs.writeFileSync(conf, snippet);
    const rotated = await execa('/usr/sbin/logrotate', ['--force', '--state', path.join(farm.root, 'logrotate.state'), conf], { reject: false });
    expect(rotated.exitCode, rotated.stderr).toBe(0);
    expect(fs.readFileSync(`${log}.1`, 'utf8')).toMatch(/"msg":"watching"/);
    await until(() => fs.existsSync(log) && fs.readFileSync(log, 'utf8').includes('log reopened (SIGHUP)'), () => 'the log was not reopened');
    fs.writeFileSync(src('after-rotation.html'), 'x');
    await converged();
    await until(() => fs.readFileSync(log, 'utf8').includes('"msg":"watch batch"'), () => 'no batch in the new log');
    expect(fs.readFileSync(`${log}.1`, 'utf8')).not.toMatch(/log reopened/);
    // the shipper's group reads the new file, and fanout appending to it keeps it so
    expect(fs.statSync(log).mode & 0o777).toBe(0o640);
    expect(fs.statSync(log).gid).toBe(Number((await execa('getent', ['group', 'adm'])).stdout.split(':')[2]));
    // it went on watching: SIGHUP did not stop it
    expect(running.child.exitCode).toBeNull();
  });

  it('a target down during edits is caught up when it returns; the others carry on in real time', async () => {
    const web2 = farm.daemons[1];
    if (!web2) throw new Error('three daemons expected');
    await startWatch();
    await web2.stop();
    try {
      fs.writeFileSync(src('while-down.html'), 'written while web2 was down');
      await converged(farm.daemons.filter((d) => d !== web2));
      expect(fs.existsSync(path.join(web2.dir, 'while-down.html'))).toBe(false);
      const status = JSON.parse((await farm.fanout(['status', '--json'])).stdout) as { targets: { name: string; health: string }[] };
      expect(status.targets.find((t) => t.name === 'web2')?.health).toBe('failed');
    } finally {
      await web2.start(); // same address and port: the running watcher's config still fits
    }
    await converged();
    expect((await farm.fanout(['verify'])).exitCode).toBe(0);
  });

  it('a push during watch deploys normally, and the files it checks out do not set off a storm', async () => {
    await startWatch();
    const before = watchBatches();
    farm.write({ 'pushed.html': 'from git', 'index.html': 'home v2' });
    await farm.commit('push while watching');
    const push = await farm.push();
    expect(push.stderr).toMatch(/to 3\/3 targets/);
    await converged();
    await sleep(300);
    expect(watchBatches() - before).toBeLessThanOrEqual(2);
    // an edit made by hand after the push, then a push that does not touch it: still equal
    fs.writeFileSync(src('hotfix.html'), 'fixed on the server');
    await converged();
    farm.write({ 'other.html': 'x' });
    await farm.commit('unrelated');
    await farm.push();
    await converged();
    expect((await farm.fanout(['verify'])).exitCode).toBe(0);
  });

  it('a push that restores a file edited by hand leaves every target equal to the source', async () => {
    await startWatch();
    fs.writeFileSync(src('index.html'), 'hot fix made on the server');
    await converged();
    farm.write({ 'index.html': 'the version in git' });
    await farm.commit('restore index.html');
    await farm.push();
    await converged();
    for (const d of farm.daemons) expect(fs.readFileSync(path.join(d.dir, 'index.html'), 'utf8')).toBe('the version in git');
    expect((await farm.fanout(['verify'])).exitCode).toBe(0);
  });

  it('a watcher that dies is restarted after a full pass, and watching goes on', async () => {
    const { child, lines } = await startWatch();
    const found = await execa('pgrep', ['-P', String(child.pid), 'inotifywait'], { reject: false });
    const inotifyPid = Number(found.stdout.trim());
    expect(inotifyPid).toBeGreaterThan(0);
    process.kill(inotifyPid, 'SIGKILL');
    await until(() => lines.some((l) => l.startsWith('watcher stopped')), () => lines.join('\n'));
    await until(() => lines.filter((l) => / full pass -> /.test(l)).length >= 2, () => lines.join('\n'));
    fs.writeFileSync(src('after-restart.html'), 'still watched');
    await converged();
  });

  it('a burst of 3,000 files is a handful of batches, not 3,000', async () => {
    await startWatch();
    const before = watchBatches();
    fs.mkdirSync(src('burst'));
    for (let i = 0; i < 3000; i += 1) fs.writeFileSync(src(`burst/file${i}.html`), `burst ${i}`);
    await converged();
    const batches = watchBatches() - before;
    expect(batches).toBeGreaterThan(0);
    expect(batches).toBeLessThan(20);
  });

  it('SIGTERM lets the batch in flight finish, then exits 0', async () => {
    const { child, lines } = await startWatch();
    fs.mkdirSync(src('late'), { recursive: true });
    for (let i = 0; i < 2000; i += 1) fs.writeFileSync(src(`late/late${i}.html`), `late ${i}`);
    await until(() => fs.readFileSync(path.join(farm.stateDir, 'lock'), 'utf8').includes('watch'), () => 'no batch started');
    child.kill('SIGTERM');
    const result = await child;
    watcher = undefined;
    expect(result.exitCode).toBe(0);
    expect(lines.at(-1)).toBe('watch stopped');
    expect(lines.some((l) => /^batch \d+: \d+ paths? ->/.test(l))).toBe(true);
    const state = JSON.parse(fs.readFileSync(path.join(farm.stateDir, 'state.json'), 'utf8')) as { targets: Record<string, { status: string }> };
    expect(Object.values(state.targets).map((t) => t.status)).toEqual(['ok', 'ok', 'ok']);
    expect((await execa('pgrep', ['-f', `inotifywait.*${farm.source}`], { reject: false })).stdout).toBe('');
  });
});
