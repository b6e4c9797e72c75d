import fs from 'node:fs';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig, targetNamed } from '../../../src/base/config.js';
import type { Context } from '../../../src/engine/context.js';
import { armSwitch, fireSwitches, switchNow } from '../../../src/releases/switch-pool.js';
import { createFarm, type Farm } from '../../../harness/farm.js';
import type { Daemon } from '../../../harness/rsyncd.js';
import { diffSnapshots, snapshot, snapshotCommit } from '../../../harness/tree.js';
import { until } from '../../../harness/watcher.js';

// The switch of `current` against real daemons: a share of the farm (`switch: "80%"`) lets it
// go on without a host that is down or at its `max connections`, which then lags until `fanout
// sync` catches it up; a deploy needs one connection to each daemon at a time; a switch made
// ready and refused by the daemon is made again with a fresh rsync when it is fired.

let farm: Farm | undefined;

afterEach(async () => {
  await farm?.cleanup();
  farm = undefined;
});

function live(f: Farm): Record<string, string> {
  return Object.fromEntries(f.daemons.map((d) => [d.name, fs.readlinkSync(path.join(d.dir, 'current'))]));
}

async function expectServing(f: Farm, commit: string, names: readonly string[]): Promise<void> {
  const expected = await snapshotCommit(f.repo, commit, f.root);
  for (const name of names) {
    const dir = f.daemons.find((d) => d.name === name)?.dir ?? '';
    expect(diffSnapshots(expected, snapshot(path.join(dir, 'current', '.'))), name).toEqual([]);
  }
}

async function pushed(f: Farm, files: Record<string, string>, message: string): Promise<{ commit: string; stderr: string }> {
  f.write(files);
  const commit = await f.commit(message);
  return { commit, stderr: (await f.push()).stderr };
}

/** A metric's value in the textfile, read with a Prometheus parser from npm. */
function metric(textfile: string, name: string, labels: Record<string, string>): number | undefined {
  const family = parsePrometheusTextFormat(fs.readFileSync(textfile, 'utf8')).find((f) => f.name === name);
  const sample = family?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  return sample === undefined ? undefined : Number(sample.value);
}

/** TCP connections established to this port, as the kernel lists them. */
function established(port: number): number {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  return fs
    .readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .filter((line) => {
      const [, , remote, state] = line.trim().split(/\s+/);
      return state === '01' && remote?.endsWith(`:${hexPort}`) === true;
    }).length;
}

function daemonLog(daemon: Daemon): string {
  return fs.readFileSync(path.join(path.dirname(daemon.dir), 'rsyncd.log'), 'utf8');
}

/**
 * Another client holding a daemon's only connection (`max connections = 1`): an rsync connected,
 * authenticated and waiting for its file list, until released.
 */
async function holdConnection(daemon: Daemon, scratch: string): Promise<{ release: () => Promise<void> }> {
  fs.mkdirSync(scratch, { recursive: true });
  const before = daemonLog(daemon).length;
  const hog: ResultPromise = execa('rsync', ['--dirs', '--files-from=-', `--password-file=${daemon.passwordFile}`, `${scratch}/`, daemon.dest], { reject: false });
  await until(
    () => daemonLog(daemon).slice(before).includes('receiving file list'),
    () => `the other client never got ${daemon.name}'s connection`,
  );
  return {
    release: async () => {
      hog.stdin?.end();
      await hog;
    },
  };
}

describe('switch: "80%": a share of the farm', () => {
  it('four of five staged: they switch, the fifth lags (status, --json, metrics, history say so), and fanout sync catches it up', async () => {
    const f = (farm = await createFarm({ targets: 5, firstHost: 241 }));
    const textfile = path.join(f.root, 'fanout.prom');
    f.writeConfig({ layout: 'slots', slotGrace: 0, switch: '80%', metrics: { textfile } });
    const v1 = await pushed(f, { 'index.html': 'v1' }, 'v1');
    expect(v1.stderr).toMatch(/remote: switched current on 5 targets/);
    const web5 = f.daemons[4];
    if (web5 === undefined) throw new Error('five daemons expected');
    await web5.stop();

    const v2 = await pushed(f, { 'index.html': 'v2', 'page.html': 'p' }, 'v2');
    expect(v2.stderr).toMatch(/remote: +web5 +failed +staging slot 2: cannot connect/);
    expect(v2.stderr).toMatch(/remote: switched current on 4 targets within \d+ ms/);
    expect(v2.stderr).toContain('remote: not switched: web5 (they serve what they served; fanout sync catches them up)');
    expect(live(f)).toEqual({ web1: 'slots/2', web2: 'slots/2', web3: 'slots/2', web4: 'slots/2', web5: 'slots/1' });
    await expectServing(f, v2.commit, ['web1', 'web2', 'web3', 'web4']);
    await expectServing(f, v1.commit, ['web5']);

    const status = await f.fanout(['status']);
    expect(status.exitCode).toBe(1);
    expect(status.stdout).toMatch(/^lagging: web5 \(the farm switched without it: it serves its old release until fanout sync catches it up\)$/m);
    expect(status.stdout).toMatch(/^web5 +lagging +[0-9a-f]{10} .*not switched, serves its old release; fanout sync catches it up: staging slot 2: cannot connect/m);
    const json = JSON.parse((await f.fanout(['status', '--json'])).stdout) as { targets: { name: string; health: string; commit: string; lagging?: { commit: string } }[] };
    expect(json.targets.find((t) => t.name === 'web5')).toMatchObject({ health: 'lagging', commit: v1.commit, lagging: { commit: v2.commit } });
    expect(json.targets.filter((t) => t.health === 'ok').map((t) => t.name)).toEqual(['web1', 'web2', 'web3', 'web4']);
    expect(metric(textfile, 'fanout_target_lagging', { target: 'web5' })).toBe(1);
    expect(metric(textfile, 'fanout_target_lagging', { target: 'web1' })).toBe(0);
    expect(f.history().at(-1)?.switch).toMatchObject({ switched: 4, held: [], lagging: ['web5'] });
    expect((await f.fanout(['history', '--limit', '1'])).stdout).toMatch(/switched 4 within \d+ ms, lagging: web5/);

    await web5.start();
    const sync = await f.fanout(['sync']);
    expect(sync.exitCode).toBe(0);
    expect(sync.stdout).toMatch(/switched current on 1 target/);
    expect(live(f).web5).toBe('slots/2');
    await expectServing(f, v2.commit, ['web5']);
    expect((await f.fanout(['status'])).exitCode).toBe(0);
    expect(metric(textfile, 'fanout_target_lagging', { target: 'web5' })).toBe(0);
  });

  it('three of five: below the share, nobody switches; those that staged say why', async () => {
    const f = (farm = await createFarm({ targets: 5, firstHost: 241 }));
    f.writeConfig({ layout: 'slots', slotGrace: 0, switch: '80%' });
    const v1 = await pushed(f, { 'index.html': 'v1' }, 'v1');
    await Promise.all(f.daemons.slice(3).map((d) => d.stop()));
    const v2 = await pushed(f, { 'index.html': 'v2' }, 'v2');
    expect(v2.stderr).not.toContain('switched current');
    expect(v2.stderr).toMatch(/remote: +web1 +failed +staged [0-9a-f]{10} in slot 2, not switched: web4, web5 failed, so 60% of the farm has the release, short of the 80% that switch: 80% asks for/);
    await expectServing(f, v1.commit, ['web1', 'web2', 'web3']);
    expect(f.history().at(-1)?.switch).toBeUndefined();
    // nobody lags behind a switch that did not happen
    const json = JSON.parse((await f.fanout(['status', '--json'])).stdout) as { targets: { name: string; health: string }[] };
    expect(json.targets.filter((t) => t.health === 'lagging' || t.health === 'ok')).toEqual([]);
  });
});

describe('the rollout honours the share', () => {
  it('a canary that lags is stood in for, the batches go on without it, and each is checked', async () => {
    const f = (farm = await createFarm({ targets: 5, firstHost: 241 }));
    const checked = path.join(f.root, 'checked');
    const check = path.join(f.root, 'check.sh');
    fs.writeFileSync(check, `#!/bin/sh\necho "$FANOUT_TARGET" >> ${checked}\n`, { mode: 0o755 });
    f.writeConfig({ layout: 'slots', slotGrace: 0, switch: '80%', checks: { command: [check], retries: 0 }, rollout: { canary: ['web5'], batch: 2 } });
    await pushed(f, { 'index.html': 'v1' }, 'v1');
    fs.rmSync(checked);
    const web5 = f.daemons[4];
    if (web5 === undefined) throw new Error('five daemons expected');
    await web5.stop();
    const v2 = await pushed(f, { 'index.html': 'v2' }, 'v2');
    expect(v2.stderr).toMatch(/remote: canary: web1\b/);
    await expectServing(f, v2.commit, ['web1', 'web2', 'web3', 'web4']);
    expect(live(f).web5).toBe('slots/1');
    const entry = f.history().at(-1);
    expect(entry?.rollout?.waves).toEqual([['web1'], ['web2', 'web3'], ['web4']]);
    expect(entry?.rollout?.stopped).toBeUndefined();
    expect(entry?.switch).toMatchObject({ switched: 4, lagging: ['web5'] });
    // the stand-in canary checked first, then each batch; nothing checked on the one that lags
    const order = fs.readFileSync(checked, 'utf8').trim().split('\n');
    expect(order[0]).toBe('web1');
    expect([...order].sort()).toEqual(['web1', 'web2', 'web3', 'web4']);
    expect((await f.fanout(['status'])).stdout).toMatch(/^web5 +lagging /m);
  });
});

describe('a daemon at its max connections', () => {
  it('never holds the farm: one connection to each target is all a deploy needs; one held by another client lags, and is caught up', async () => {
    // every module allows one connection at a time
    const f = (farm = await createFarm({ targets: 4, firstHost: 246, daemonGlobalLines: ['max connections = 1'] }));
    // a connection another client has just given up may take the daemon a moment to count out
    const settings = { layout: 'slots', slotGrace: 0, retries: 1, retryDelay: 0.2 };
    f.writeConfig(settings);
    await pushed(f, { 'index.html': 'v1' }, 'v1');
    const v2 = await pushed(f, { 'index.html': 'v2' }, 'v2');
    // switch: all, and every target staged then switched within its one connection
    expect(v2.stderr).toMatch(/remote: switched current on 4 targets/);
    await expectServing(f, v2.commit, ['web1', 'web2', 'web3', 'web4']);
    for (const d of f.daemons) expect(daemonLog(d)).not.toContain('max connections');

    const web4 = f.daemons[3];
    if (web4 === undefined) throw new Error('four daemons expected');
    f.writeConfig({ ...settings, switch: '75%' });
    const other = await holdConnection(web4, path.join(f.root, 'other-client'));
    let v3: { commit: string; stderr: string };
    try {
      v3 = await pushed(f, { 'index.html': 'v3' }, 'v3');
    } finally {
      await other.release();
    }
    expect(v3.stderr).toMatch(/remote: +web4 +failed +.*the daemon is at its "max connections" limit/);
    expect(v3.stderr).toMatch(/remote: switched current on 3 targets/);
    await expectServing(f, v3.commit, ['web1', 'web2', 'web3']);
    await expectServing(f, v2.commit, ['web4']);
    expect((await f.fanout(['status'])).stdout).toMatch(/^web4 +lagging /m);
    const sync = await f.fanout(['sync']);
    expect(sync.exitCode).toBe(0);
    await expectServing(f, v3.commit, ['web4']);
  });

  it('a switch is ready only once its rsync is connected and waiting for the word; a daemon that does not answer holds it back', async () => {
    const f = (farm = await createFarm({ targets: 1, firstHost: 152 }));
    f.writeConfig({ layout: 'slots', slotGrace: 0 });
    await pushed(f, { 'index.html': 'v1' }, 'v1');
    await pushed(f, { 'index.html': 'v2' }, 'v2');
    const web1 = f.daemons[0];
    if (web1 === undefined) throw new Error('a daemon expected');
    const config = loadConfig(f.configFile);
    const reporter = { note: () => undefined, targetDone: () => undefined, progress: () => undefined, buildLine: () => undefined, deployDone: () => undefined, finish: () => undefined };
    const ctx: Context = { config, reporter, log: pino({ level: 'silent' }), publish: () => Promise.resolve([]) };
    // stopped, the daemon's kernel still accepts the connection, but nobody greets it
    web1.signal('SIGSTOP');
    let ready = false;
    const armed = armSwitch(ctx, targetNamed(config, 'web1'), '1');
    void armed.ready.then(() => (ready = true));
    try {
      await until(
        () => established(web1.port) > 0,
        () => 'the armed switch never connected',
      );
      // a turn of the event loop for a readiness that would wrongly have come with the connection
      await new Promise((resolve) => setImmediate(resolve));
      expect(ready).toBe(false);
    } finally {
      web1.signal('SIGCONT');
    }
    await armed.ready;
    // connected, authenticated, waiting: nothing has changed on the host yet
    expect(daemonLog(web1)).toContain('receiving file list');
    expect(live(f).web1).toBe('slots/2');
    const answer = await armed.fire();
    expect(answer).toMatchObject({ error: undefined, untouched: false });
    expect(answer).not.toHaveProperty('lost');
    expect(live(f).web1).toBe('slots/1');
  });

  it('a switch made ready that the daemon refused is made with a fresh rsync when it is fired', async () => {
    const f = (farm = await createFarm({ targets: 1, firstHost: 151, daemonGlobalLines: ['max connections = 1'] }));
    // a connection another client has just given up may take the daemon a moment to count out
    f.writeConfig({ layout: 'slots', slotGrace: 0, retries: 1, retryDelay: 0.2 });
    const v1 = await pushed(f, { 'index.html': 'v1' }, 'v1');
    await pushed(f, { 'index.html': 'v2' }, 'v2');
    const web1 = f.daemons[0];
    if (web1 === undefined) throw new Error('a daemon expected');
    expect(live(f).web1).toBe('slots/2');

    const config = loadConfig(f.configFile);
    const logs: { msg: string; target?: string }[] = [];
    const reporter = { note: () => undefined, targetDone: () => undefined, progress: () => undefined, buildLine: () => undefined, deployDone: () => undefined, finish: () => undefined };
    const ctx: Context = { config, reporter, log: pino({}, { write: (line: string) => logs.push(JSON.parse(line) as { msg: string }) }), publish: () => Promise.resolve([]) };
    // the daemon's one connection is taken (a stage, in the old order of things): the switch
    // made ready now is refused, and its rsync exits at once
    const other = await holdConnection(web1, path.join(f.root, 'other-client'));
    const before = daemonLog(web1).length;
    const armed = armSwitch(ctx, targetNamed(config, 'web1'), '1');
    try {
      await until(
        () => daemonLog(web1).slice(before).includes('max connections (1) reached'),
        () => 'the daemon never refused the switch made ready',
      );
    } finally {
      await other.release();
    }
    // fired with the others, it is found lost, and a fresh rsync switches the target
    const [answer] = await fireSwitches(ctx, [{ target: targetNamed(config, 'web1'), slot: '1' }], undefined, { makers: { arm: () => armed, fresh: switchNow, bound: 16 } });
    expect(answer?.error).toBeUndefined();
    expect(answer?.at).toBeTypeOf('number');
    expect(live(f).web1).toBe('slots/1');
    await expectServing(f, v1.commit, ['web1']);
    expect(logs.map((l) => l.msg)).toContain('the waiting switch was lost; switching with a fresh rsync');
  });
});

describe('a host that dies between its staging and the switch', () => {
  it('holds up no other host: each one that switched is noted and runs its afterSwitch at once, while the dead one\'s switch is retried', async () => {
    // one connection a module: another client holding web1's holds back web1's staging, and so the switch
    const f = (farm = await createFarm({ targets: 2, firstHost: 150, daemonGlobalLines: ['max connections = 1'] }));
    const hooked = path.join(f.root, 'afterSwitch.log');
    const hook = path.join(f.root, 'after-switch.sh');
    fs.writeFileSync(hook, `#!/bin/sh
echo "$FANOUT_TARGET" >> '${hooked}'
`, { mode: 0o755 });
    // web2's switch retried for 1+2+4+8+16 s: far longer than web1 may wait for its hook
    f.writeConfig({ layout: 'slots', slotGrace: 0, retries: 5, retryDelay: 1, hooks: { afterSwitch: [hook] } });
    await pushed(f, { 'index.html': 'v1' }, 'v1');
    const [web1, web2] = f.daemons;
    if (web1 === undefined || web2 === undefined) throw new Error('two daemons expected');
    fs.writeFileSync(hooked, '');
    f.write({ 'index.html': 'v2' });
    const v2 = await f.commit('v2');
    await f.pushWithoutDeploy();
    const other = await holdConnection(web1, path.join(f.root, 'other-client'));
    const deploying = f.fanout(['deploy']);
    try {
      // web2 has staged (its slot holds v2) and its switch is made ready: then its host dies
      await until(
        () => fs.existsSync(path.join(web2.dir, 'slots', '2', 'index.html')) && fs.readFileSync(path.join(web2.dir, 'slots', '2', 'index.html'), 'utf8') === 'v2',
        () => 'web2 never staged v2',
      );
      await until(
        () => established(web2.port) > 0,
        () => 'web2\'s switch was never made ready',
      );
      await web2.stop();
    } finally {
      await other.release();
    }
    // web1 stages, switches, and runs its hook, while web2's switch still waits on a dead host
    await until(
      () => fs.readFileSync(hooked, 'utf8') === 'web1\n',
      () => `web1's afterSwitch did not run while web2 was down (it ran for: ${JSON.stringify(fs.readFileSync(hooked, 'utf8'))})`,
    );
    const journalled = (): { live?: string; commit?: string } | undefined =>
      (JSON.parse(fs.readFileSync(path.join(f.stateDir, 'state.json'), 'utf8')) as { targets: Record<string, { live?: string; commit?: string }> }).targets.web1;
    await until(
      () => journalled()?.live === '2' && journalled()?.commit === v2,
      () => `the journal did not note web1's switch while web2 was down: ${JSON.stringify(journalled())}`,
    );
    expect(live(f)).toEqual({ web1: 'slots/2', web2: 'slots/1' });
    await web2.start();
    const result = await deploying;
    expect(result.exitCode, result.stdout + result.stderr).toBe(0);
    await expectServing(f, v2, ['web1', 'web2']);
    expect(fs.readFileSync(hooked, 'utf8')).toBe('web1\nweb2\n');
  });
});
