import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFarm, type Farm } from '../../../harness/farm.js';
import { startWebServer, type WebServer } from '../../../harness/nginx.js';

// Health-gated rollout against real web servers: an nginx in front of each rsync daemon target,
// on the target's own loopback address, serving its `current` (or its directory in place).

let farm: Farm;
let web: WebServer[];

async function startFarm(layout: 'slots' | 'in-place'): Promise<void> {
  farm = await createFarm({ targets: 3, firstHost: 240 });
  web = [];
  for (const [i, d] of farm.daemons.entries()) {
    const root = layout === 'slots' ? path.join(d.dir, 'current') : d.dir;
    web.push(await startWebServer({ hostIndex: 240 + i, dir: path.join(farm.root, `nginx-${d.name}`), root }));
  }
}

function configure(extra: Record<string, unknown> = {}, checkPath = '/health.html'): void {
  farm.writeConfig(
    { slotGrace: 0, revisionFile: 'REVISION', checks: { status: 200, retries: 1, retryDelay: 0.1, timeout: 2 }, rollout: { canary: 1, batch: 1 }, ...extra },
    farm.daemons.map((d, i) => ({ name: d.name, dest: d.dest, passwordFile: d.passwordFile, checkUrl: `${web[i]?.origin ?? ''}${checkPath}` })),
  );
}

afterEach(async () => {
  await Promise.all(web.map((w) => w.stop()));
  await farm.cleanup();
});

/** What each web server serves at a path, as a visitor gets it. */
async function served(rel: string): Promise<string[]> {
  return Promise.all(web.map(async (w) => (await fetch(`${w.origin}/${rel}`)).text()));
}

async function pushed(files: Record<string, string>, message: string, remove: string[] = []): Promise<{ commit: string; stderr: string }> {
  farm.write(files);
  if (remove.length > 0) farm.remove(...remove);
  const commit = await farm.commit(message);
  return { commit, stderr: (await farm.push()).stderr };
}

describe('with slots', () => {
  beforeEach(async () => {
    await startFarm('slots');
    configure({ layout: 'slots' });
  });

  it('a canary, then batches, each switched and checked through nginx; REVISION proves the release served', async () => {
    // checked on REVISION through nginx: the web server must serve this very commit
    farm.writeConfig(
      { slotGrace: 0, layout: 'slots', revisionFile: 'REVISION', checks: { body: '{commit}', retries: 1, retryDelay: 0.1 }, rollout: { canary: 1, batch: 1, pause: 0.2 } },
      farm.daemons.map((d, i) => ({ name: d.name, dest: d.dest, passwordFile: d.passwordFile, checkUrl: `${web[i]?.origin ?? ''}/REVISION` })),
    );
    const v1 = await pushed({ 'index.html': 'v1', 'health.html': 'ok' }, 'v1');
    expect(v1.stderr).toMatch(/remote: pausing 0\.20s before the next batch/);
    expect(v1.stderr).toMatch(/remote: canary: web1\s/);
    expect(v1.stderr).toMatch(/remote: check web1: ok \(HTTP 200\)/);
    expect(v1.stderr).toMatch(/remote: batch 1\/2: web2\s/);
    expect(v1.stderr).toMatch(/remote: batch 2\/2: web3\s/);
    expect(await served('REVISION')).toEqual(Array(3).fill(`${v1.commit}\n`));
    expect(await served('index.html')).toEqual(['v1', 'v1', 'v1']);
    const entry = farm.history().at(-1);
    expect(entry?.rollout?.waves).toEqual([['web1'], ['web2'], ['web3']]);
    expect(entry?.rollout?.checks.map((c) => [c.target, c.ok])).toEqual([
      ['web1', true],
      ['web2', true],
      ['web3', true],
    ]);
    expect((await farm.fanout(['verify'])).exitCode).toBe(0);
  });

  it('a canary that fails its check is switched back at once; the others never take the release', async () => {
    const v1 = await pushed({ 'index.html': 'v1', 'health.html': 'ok' }, 'v1');
    const bad = await pushed({ 'index.html': 'v2, broken' }, 'v2 breaks the health page', ['health.html']);
    expect(bad.stderr).toMatch(/remote: check web1: FAILED \(HTTP 404: .*\(expected 200\), 2 tries\)/);
    expect(bad.stderr).toMatch(/remote: rolling back web1 to [0-9a-f]{10} \(rollout.onFailure: rollback\)/);
    expect(bad.stderr).toMatch(/remote: +web2 +failed +staged in slot 2, not switched: the rollout stopped at web1 \(HTTP 404/);
    expect(await served('index.html')).toEqual(['v1', 'v1', 'v1']);
    expect(await served('REVISION')).toEqual(Array(3).fill(`${v1.commit}\n`));
    const [failed, back] = farm.history().slice(-2);
    expect(failed).toMatchObject({ commit: bad.commit, rollout: { stopped: { wave: 0, target: 'web1' } } });
    // the way back is a switch alone: the slot left behind still held v1
    expect(back).toMatchObject({ reason: 'auto-rollback', commit: v1.commit, targets: [{ name: 'web1', status: 'ok', sent: 0 }] });
    // every target serves v1 again, but the pushed commit is not deployed: status says what happened, and exits 1
    const status = await farm.fanout(['status']);
    expect(status.exitCode).toBe(1);
    expect(status.stdout).toMatch(new RegExp(`rolled back automatically: deploy #\\d+ of ${bad.commit.slice(0, 10)} failed its check on web1 \\(HTTP 404`));
    expect(status.stdout).toMatch(new RegExp(`branch main is at ${bad.commit.slice(0, 10)} "v2 breaks the health page", not deployed: it failed its check on web1 in deploy #\\d+ \\(HTTP 404`));
    for (const name of ['web1', 'web2', 'web3']) expect(status.stdout).toMatch(new RegExp(`${name} +ok `));
    const json = JSON.parse((await farm.fanout(['status', '--json'])).stdout) as { autoRollback: { target: string; back: string } };
    expect(json.autoRollback).toMatchObject({ target: 'web1', back: v1.commit });
  });

  it('a failure in the second batch sends back every target that took the release, the canary too', async () => {
    farm.writeConfig(
      { layout: 'slots', slotGrace: 0, revisionFile: 'REVISION', checks: { retries: 0 }, rollout: { canary: 1, batch: 1 } },
      farm.daemons.map((d, i) => ({ name: d.name, dest: d.dest, passwordFile: d.passwordFile, checkUrl: `${web[i]?.origin ?? ''}/${d.name}.html` })),
    );
    const v1 = await pushed({ 'index.html': 'v1', 'web1.html': 'ok', 'web2.html': 'ok', 'web3.html': 'ok' }, 'v1');
    const bad = await pushed({ 'index.html': 'v2' }, 'v2 breaks only the page web3 is checked on', ['web3.html']);
    expect(bad.stderr).toMatch(/remote: check web1: ok[\s\S]*remote: check web2: ok[\s\S]*remote: check web3: FAILED \(HTTP 404/);
    expect(bad.stderr).toMatch(/remote: rolling back web1, web2, web3 to [0-9a-f]{10}/);
    expect(await served('index.html')).toEqual(['v1', 'v1', 'v1']);
    expect(farm.history().at(-1)).toMatchObject({ reason: 'auto-rollback', commit: v1.commit, targets: [{ name: 'web1' }, { name: 'web2' }, { name: 'web3' }] });
    expect(farm.history().at(-2)?.rollout?.stopped).toMatchObject({ wave: 2, target: 'web3' });
  });

  it('a check that gets no answer is bounded by checks.timeout and fails the canary', async () => {
    const net = await import('node:net');
    const sockets: import('node:net').Socket[] = [];
    const silent = net.createServer((socket) => {
      sockets.push(socket);
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.243', resolve));
    const address = silent.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    try {
      await pushed({ 'index.html': 'v1', 'health.html': 'ok' }, 'v1');
      // web1's web server now takes the connection and never answers, like a wedged host
      farm.writeConfig(
        { layout: 'slots', slotGrace: 0, checks: { timeout: 0.5, retries: 0 }, rollout: { canary: 1 } },
        farm.daemons.map((d, i) => ({ name: d.name, dest: d.dest, passwordFile: d.passwordFile, checkUrl: i === 0 ? `http://127.0.0.243:${port}/` : `${web[i]?.origin ?? ''}/index.html` })),
      );
      const started = Date.now();
      const second = await pushed({ 'index.html': 'v2' }, 'v2');
      expect(second.stderr).toMatch(/remote: check web1: FAILED \(GET http:\/\/127\.0\.0\.243:\d+\/: no answer within 0\.5s\)/);
      expect(Date.now() - started).toBeLessThan(20_000);
      expect(await served('index.html')).toEqual(['v1', 'v1', 'v1']);
    } finally {
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });

  it('onFailure: stop leaves the canary on the release it failed with, failed in status; sync and a redeploy send it to no more hosts unless forced', async () => {
    configure({ layout: 'slots', rollout: { canary: ['web2'], onFailure: 'stop' } });
    await pushed({ 'index.html': 'v1', 'health.html': 'ok' }, 'v1');
    const bad = await pushed({ 'index.html': 'v2' }, 'v2', ['health.html']);
    expect(bad.stderr).toMatch(/remote: canary: web2\s/);
    expect(bad.stderr).not.toContain('rolling back');
    expect(await served('index.html')).toEqual(['v1', 'v2', 'v1']);
    // the canary is failed with the check's answer, not ok on the bad release
    const status = await farm.fanout(['status']);
    expect(status.exitCode).toBe(1);
    expect(status.stdout).toMatch(/web2 +failed +[0-9a-f]{10} .*check failed: HTTP 404/);
    expect(status.stdout).toMatch(new RegExp(`release ${bad.commit.slice(0, 10)} failed its check on web2 in deploy #\\d+ \\(HTTP 404.*\\): fanout sends it to no more hosts`));
    // what status suggests for the hosts behind does not spread it: one line, exit 1, nothing sent
    for (const args of [['sync'], ['deploy'], ['sync', '--full']]) {
      const again = await farm.fanout(args);
      expect(again.exitCode, args.join(' ')).toBe(1);
      expect(again.stderr.trim()).toMatch(new RegExp(`^fanout: release ${bad.commit.slice(0, 10)} failed its check on web2 in deploy #\\d+ \\(HTTP 404.*\\); fanout sends it to no more hosts: push a fix, or fanout rollback; --force sends it anyway$`));
    }
    expect(await served('index.html')).toEqual(['v1', 'v2', 'v1']);
    // forced, it goes out: the rollout runs again, its canary checked first, and stops there again
    const forced = await farm.fanout(['sync', '--force']);
    expect(forced.exitCode).toBe(1);
    expect(forced.stdout).toMatch(/check web2: FAILED \(HTTP 404/);
    expect(await served('index.html')).toEqual(['v1', 'v2', 'v1']);
    // a fix deployed ends it
    await pushed({ 'index.html': 'v3', 'health.html': 'ok' }, 'v3');
    expect(await served('index.html')).toEqual(['v3', 'v3', 'v3']);
    expect((await farm.fanout(['status'])).exitCode).toBe(0);
  });

  it('a command check runs with the target, commit and slot in its environment; its stderr is the reason', async () => {
    const script = path.join(farm.root, 'check.sh');
    const seen = path.join(farm.root, 'seen');
    fs.writeFileSync(script, `#!/bin/sh\necho "$FANOUT_TARGET $FANOUT_COMMIT $FANOUT_SLOT" >> ${seen}\n[ -e ${farm.root}/fail ] && { echo "db migration pending" >&2; exit 3; }\nexit 0\n`, { mode: 0o755 });
    farm.writeConfig(
      { layout: 'slots', slotGrace: 0, checks: { command: [script], retries: 0 } },
      farm.daemons.map((d) => ({ name: d.name, dest: d.dest, passwordFile: d.passwordFile })),
    );
    const v1 = await pushed({ 'index.html': 'v1' }, 'v1');
    expect(fs.readFileSync(seen, 'utf8').trim().split('\n').sort()).toEqual(['web1', 'web2', 'web3'].map((n) => `${n} ${v1.commit} 1`));
    fs.writeFileSync(path.join(farm.root, 'fail'), '');
    const bad = await pushed({ 'index.html': 'v2' }, 'v2');
    expect(bad.stderr).toMatch(/remote: check web1: FAILED \(exit 3: db migration pending\)/);
    expect(await served('index.html')).toEqual(['v1', 'v1', 'v1']);
  });
});

describe('hooks around a deploy', () => {
  beforeEach(async () => {
    await startFarm('slots');
  });

  it('before can stop a deploy with nothing touched; afterSwitch runs per target before its check; after and onFailure are told the outcome', async () => {
    const log = path.join(farm.root, 'hooks.log');
    const hook = path.join(farm.root, 'hook.sh');
    // records its environment and the JSON on its stdin; "before" fails while a file says so
    fs.writeFileSync(
      hook,
      `#!/bin/sh\nread -r json\necho "$FANOUT_HOOK target=$FANOUT_TARGET slot=$FANOUT_SLOT outcome=$FANOUT_OUTCOME reason=$FANOUT_REASON commit=$FANOUT_COMMIT json=$json" >> ${log}\n[ "$FANOUT_HOOK" = before ] && [ -e ${farm.root}/freeze ] && { echo "deploy freeze until Monday" >&2; exit 1; }\nexit 0\n`,
      { mode: 0o755 },
    );
    configure({ layout: 'slots', rollout: { canary: 1 }, hooks: { before: [hook], afterSwitch: [hook], after: [hook], onFailure: [hook], timeout: 5 } });
    const v1 = await pushed({ 'index.html': 'v1', 'health.html': 'ok' }, 'v1');
    const lines = fs.readFileSync(log, 'utf8').trim().split('\n');
    expect(lines[0]).toMatch(new RegExp(`^before target= slot= outcome= reason=push commit=${v1.commit} json=\\{"hook":"before","deployId":1,"commit":"${v1.commit}"`));
    // the canary first, then the batch's two at once (in either order)
    const switched = lines.filter((l) => l.startsWith('afterSwitch')).map((l) => /target=(\S+) slot=(\S+)/.exec(l)?.slice(1).join(' '));
    expect(switched[0]).toBe('web1 1');
    expect(switched.slice(1).sort()).toEqual(['web2 1', 'web3 1']);
    expect(lines.at(-1)).toMatch(/^after .*outcome=ok reason=push/);
    expect(lines.some((l) => l.startsWith('onFailure'))).toBe(false);

    fs.writeFileSync(path.join(farm.root, 'freeze'), '');
    const frozen = await pushed({ 'index.html': 'v2' }, 'v2');
    expect(frozen.stderr).toMatch(/remote: fanout: the before hook \(.*hook.sh\) failed: exit 1: deploy freeze until Monday; nothing was touched/);
    expect(await served('index.html')).toEqual(['v1', 'v1', 'v1']);
    fs.rmSync(path.join(farm.root, 'freeze'));

    fs.writeFileSync(log, '');
    const bad = await pushed({ 'index.html': 'v3' }, 'v3', ['health.html']);
    expect(bad.stderr).toMatch(/remote: check web1: FAILED/);
    const after = fs.readFileSync(log, 'utf8').trim().split('\n');
    // the automatic rollback first (its switch, and the afterSwitch that goes with it), which no
    // before hook can stop; then the failed deploy's onFailure and after; then the rollback's after
    expect(after.map((l) => l.split(' ')[0])).toEqual(['before', 'afterSwitch', 'afterSwitch', 'onFailure', 'after', 'after']);
    expect(after[2]).toMatch(/reason=auto-rollback/);
    expect(after[3]).toMatch(/reason=push/);
    expect(after[5]).toMatch(/reason=auto-rollback/);
    expect(await served('index.html')).toEqual(['v1', 'v1', 'v1']);
  });
});

describe('the way back comes first', () => {
  beforeEach(async () => {
    await startFarm('slots');
  });

  it.each([{ canary: 1 }, { canary: 1, batch: 1 }])('with rollout %o, every host that took a release that failed its check serves the old one again before any onFailure or after hook starts', async (rollout) => {
    // each hook writes down, as it starts, what every web server serves
    const seen = path.join(farm.root, 'seen');
    const hook = path.join(farm.root, 'look.mjs');
    const origins = JSON.stringify(web.map((w) => w.origin));
    fs.writeFileSync(
      hook,
      `#!${process.execPath}\nimport fs from 'node:fs';\nconst pages = await Promise.all(${origins}.map(async (o) => (await fetch(o + '/index.html')).text()));\nfs.appendFileSync(${JSON.stringify(seen)}, [process.env.FANOUT_HOOK, process.env.FANOUT_REASON, ...pages].join(' ') + '\\n');\n`,
      { mode: 0o755 },
    );
    farm.writeConfig(
      { layout: 'slots', slotGrace: 0, checks: { retries: 0 }, rollout, hooks: { onFailure: [hook], after: [hook] } },
      farm.daemons.map((d, i) => ({ name: d.name, dest: d.dest, passwordFile: d.passwordFile, checkUrl: `${web[i]?.origin ?? ''}/${d.name}.html` })),
    );
    await pushed({ 'index.html': 'v1', 'web1.html': 'ok', 'web2.html': 'ok', 'web3.html': 'ok' }, 'v1');
    fs.writeFileSync(seen, '');
    // the canary passes; the page the last host is checked on is gone
    const bad = await pushed({ 'index.html': 'v2' }, 'v2', ['web3.html']);
    expect(bad.stderr).toMatch(/remote: check web3: FAILED/);
    const lines = fs.readFileSync(seen, 'utf8').trim().split('\n');
    expect(lines.map((l) => l.split(' ').slice(0, 2).join(' '))).toEqual(['onFailure push', 'after push', 'after auto-rollback']);
    for (const line of lines) expect(line.split(' ').slice(2)).toEqual(['v1', 'v1', 'v1']);
  });
});

describe('in place', () => {
  beforeEach(async () => {
    await startFarm('in-place');
    configure({ rollout: { canary: 1 } });
  });

  it('a canary that fails is put back by the engine, from the diff; the others are not written', async () => {
    const v1 = await pushed({ 'index.html': 'v1', 'health.html': 'ok' }, 'v1');
    expect(await served('REVISION')).toEqual(Array(3).fill(`${v1.commit}\n`));
    const bad = await pushed({ 'index.html': 'v2' }, 'v2', ['health.html']);
    expect(bad.stderr).toMatch(/remote: check web1: FAILED/);
    expect(bad.stderr).toMatch(/remote: +web2 +failed +not deployed: the rollout stopped at web1/);
    expect(await served('index.html')).toEqual(['v1', 'v1', 'v1']);
    expect(await served('REVISION')).toEqual(Array(3).fill(`${v1.commit}\n`));
    expect(farm.history().at(-1)).toMatchObject({ reason: 'auto-rollback', commit: v1.commit, targets: [{ name: 'web1', status: 'ok', sent: 2 }] });
  });
});
