import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFarm, type Farm } from '../../../harness/farm.js';
import { diffSnapshots, snapshot, snapshotCommit } from '../../../harness/tree.js';

// Atomic releases (layout: slots) against real rsync daemons and a local directory: each target
// stages the commit into a slot nothing serves, then every target switches `current` at once.

let farm: Farm;
let local: string;

/** The farm's two daemons and a local directory, with slots and these settings. */
function configure(extra: Record<string, unknown> = {}): void {
  farm.writeConfig({ layout: 'slots', slotGrace: 0, ...extra }, [...farm.daemons.map((d) => ({ name: d.name, dest: d.dest, passwordFile: d.passwordFile })), { name: 'local', dest: `${local}/` }]);
}

beforeEach(async () => {
  farm = await createFarm({ targets: 2, firstHost: 180 });
  local = path.join(farm.root, 'local-www');
  configure();
});

afterEach(async () => {
  await farm.cleanup();
});

function dirs(): Record<string, string> {
  return { ...Object.fromEntries(farm.daemons.map((d) => [d.name, d.dir])), local };
}

/** Where `current` points on each target. */
function live(): Record<string, string> {
  return Object.fromEntries(Object.entries(dirs()).map(([name, dir]) => [name, fs.readlinkSync(path.join(dir, 'current'))]));
}

/** Every target serves `commit` through `current`, exactly. */
async function expectServing(commit: string, names = Object.keys(dirs())): Promise<void> {
  const expected = await snapshotCommit(farm.repo, commit, farm.root);
  for (const name of names) {
    const served = snapshot(path.join(dirs()[name] ?? '', 'current', '.'));
    // a shared path is a symlink into shared/ in every slot, never part of a commit
    served.delete('uploads');
    expect(diffSnapshots(expected, served), name).toEqual([]);
  }
}

async function pushed(files: Record<string, string>, message: string): Promise<{ commit: string; stderr: string }> {
  farm.write(files);
  const commit = await farm.commit(message);
  const push = await farm.push();
  return { commit, stderr: push.stderr };
}

describe('stage, then switch every target at once', () => {
  it('a first push fills slot 1 and points current at it; the next stages slot 2 with only the change, then switches', async () => {
    const v1 = await pushed({ 'index.html': 'v1', 'css/site.css': 'body{}', 'about.html': 'about' }, 'v1');
    expect(v1.stderr).toMatch(/remote: switched current on 3 targets within \d+ ms/);
    expect(live()).toEqual({ web1: 'slots/1', web2: 'slots/1', local: 'slots/1' });
    await expectServing(v1.commit);

    // slot 2 has never held anything: a full pass, but each unchanged file is copied on the host
    // from the live slot (--copy-dest), not sent
    const v2 = await pushed({ 'index.html': 'v2' }, 'v2');
    for (const name of Object.keys(dirs())) expect(v2.stderr).toMatch(new RegExp(`remote: +${name} +ok +1 sent \\([^)]*\\), 0 deleted \\(full pass\\)`));
    expect(live()).toEqual({ web1: 'slots/2', web2: 'slots/2', local: 'slots/2' });
    await expectServing(v2.commit);
    // the slot left behind still holds v1 whole: the rollback to it sends nothing
    for (const dir of Object.values(dirs())) expect(fs.readFileSync(path.join(dir, 'slots/1/index.html'), 'utf8')).toBe('v1');

    const entry = farm.history().at(-1);
    expect(entry?.switch).toMatchObject({ switched: 3, held: [] });
    expect(entry?.switch?.skewMs).toBeGreaterThanOrEqual(0);
    expect(entry?.targets.map((t) => t.slot)).toEqual(['2', '2', '2']);

    // slot 1 is staged from v1: the diff v1..v3 (two files), not the whole site
    const v3 = await pushed({ 'about.html': 'about v3', 'new.html': 'new' }, 'v3');
    for (const name of Object.keys(dirs())) expect(v3.stderr).toMatch(new RegExp(`remote: +${name} +ok +3 sent`));
    expect(live()).toEqual({ web1: 'slots/1', web2: 'slots/1', local: 'slots/1' });
    await expectServing(v3.commit);
  });

  it('verify compares what current serves; --all-slots each slot with the commit it holds', async () => {
    await pushed({ 'index.html': 'v1' }, 'v1');
    await pushed({ 'index.html': 'v2', 'two.html': '2' }, 'v2');
    const clean = await farm.fanout(['verify', '--all-slots']);
    expect(clean.exitCode).toBe(0);
    expect(clean.stdout).toMatch(/web1 slot 1 +same +identical to the commit it holds/);
    expect(clean.stdout).toMatch(/local slot 2 +same/);
    // a hand edit in the slot nothing serves: only --all-slots sees it
    fs.writeFileSync(path.join(local, 'slots/1/index.html'), 'edited');
    expect((await farm.fanout(['verify'])).exitCode).toBe(0);
    const drift = await farm.fanout(['verify', '--all-slots']);
    expect(drift.exitCode).toBe(1);
    expect(drift.stdout).toMatch(/local slot 1 +drift +1 path differs/);
    fs.writeFileSync(path.join(local, 'slots/2/stray.html'), 'stray');
    const served = await farm.fanout(['verify', '--target', 'local']);
    expect(served.exitCode).toBe(1);
    expect(served.stdout).toContain('*deleting   stray.html');
    // the repair verify names writes one slot; the other, drifted too, is no longer vouched for
    expect(served.stdout).toContain('repair with: fanout sync --full --target local');
    expect((await farm.fanout(['sync', '--full', '--target', 'local'])).exitCode).toBe(0);
    expect((await farm.fanout(['verify', '--all-slots'])).exitCode).toBe(0);
    expect(journal().local?.slots?.['2']).toMatchObject({ commit: null });
    expect((await farm.fanout(['status'])).stdout).toMatch(/local .*slot 1 live; slot 2 holds what no record vouches for/);
    // a rollback then stages the slot again, in full, instead of switching to what it held
    const back = await farm.fanout(['rollback', '--target', 'local']);
    expect(back.stdout).toMatch(/local +ok +.*\(full pass\), slot 2 live/);
    expect((await farm.fanout(['verify', '--all-slots', '--target', 'local'])).exitCode).toBe(0);
  });
});

interface TargetJournal {
  commit: string | null;
  status: string;
  live?: string | null;
  switching?: string;
  slots?: Record<string, { commit: string | null; status: string; attempted: string[]; retiredAt?: string; dirty?: string[] }>;
}

function journal(): Record<string, TargetJournal> {
  return (JSON.parse(fs.readFileSync(path.join(farm.stateDir, 'state.json'), 'utf8')) as { targets: Record<string, TargetJournal> }).targets;
}

describe('a target that fails to stage', () => {
  it('by default nobody switches (the farm stays on one version); a retry stages only what is missing', async () => {
    const v1 = await pushed({ 'index.html': 'v1' }, 'v1');
    const [web1, web2] = farm.daemons;
    if (!web1 || !web2) throw new Error('two daemons expected');
    await web2.stop();
    const v2 = await pushed({ 'index.html': 'v2', 'page.html': 'p' }, 'v2');
    expect(v2.stderr).toMatch(/remote: +web2 +failed +staging slot 2: cannot connect/);
    expect(v2.stderr).toMatch(/remote: +web1 +failed +staged [0-9a-f]{10} in slot 2, not switched: web2 failed, and switch: all keeps the farm on one version/);
    expect(v2.stderr).not.toContain('switched current');
    expect(live()).toEqual({ web1: 'slots/1', web2: 'slots/1', local: 'slots/1' });
    await expectServing(v1.commit);
    expect(journal().web1?.slots?.['2']).toMatchObject({ commit: v2.commit, status: 'ok', attempted: [] });
    expect((await farm.fanout(['status'])).exitCode).toBe(1);

    await web2.start();
    const retry = await farm.fanout(['deploy']);
    expect(retry.exitCode).toBe(0);
    // web1 and local staged already: they only switch
    expect(retry.stdout).toMatch(/web1 +ok +already up to date/);
    expect(retry.stdout).toMatch(/web2 +ok +\d+ sent/);
    expect(live()).toEqual({ web1: 'slots/2', web2: 'slots/2', local: 'slots/2' });
    await expectServing(v2.commit);
    expect((await farm.fanout(['status'])).exitCode).toBe(0);
  });

  it('with switch: available, those that staged switch; the other is caught up later', async () => {
    configure({ switch: 'available' });
    await pushed({ 'index.html': 'v1' }, 'v1');
    const web2 = farm.daemons[1];
    if (!web2) throw new Error('two daemons expected');
    await web2.stop();
    const v2 = await pushed({ 'index.html': 'v2' }, 'v2');
    expect(v2.stderr).toMatch(/remote: switched current on 2 targets/);
    expect(v2.stderr).toMatch(/remote: not switched: web2 \(they serve what they served; fanout sync catches them up\)/);
    await expectServing(v2.commit, ['web1', 'local']);
    await web2.start();
    expect(live().web2).toBe('slots/1');
    const sync = await farm.fanout(['sync']);
    expect(sync.exitCode).toBe(0);
    await expectServing(v2.commit);
  });
});

describe('rollback is a switch', () => {
  it('when every target has the wanted commit in a slot, nothing is sent and current flips back', async () => {
    const v1 = await pushed({ 'index.html': 'v1', 'a.html': 'a' }, 'v1');
    await pushed({ 'index.html': 'v2', 'b.html': 'b' }, 'v2');
    const back = await farm.fanout(['rollback']);
    expect(back.exitCode).toBe(0);
    for (const name of Object.keys(dirs())) expect(back.stdout).toMatch(new RegExp(`${name} +ok +already up to date`));
    expect(back.stdout).toMatch(/switched current on 3 targets/);
    expect(live()).toEqual({ web1: 'slots/1', web2: 'slots/1', local: 'slots/1' });
    await expectServing(v1.commit);
    const entry = farm.history().at(-1);
    expect(entry).toMatchObject({ reason: 'rollback', commit: v1.commit, switch: { switched: 3 } });
    expect(entry?.targets.every((t) => t.sent === 0 && t.deleted === 0)).toBe(true);
  });
});

describe('shared paths', () => {
  it('each slot links them to shared/, which fanout makes once and never deletes; a commit containing one is refused', async () => {
    configure({ shared: ['uploads', 'media/cache'] });
    await pushed({ 'index.html': 'v1', 'media/logo.png': 'png' }, 'v1');
    // the web application writes through `current`
    for (const dir of Object.values(dirs())) {
      expect(fs.readlinkSync(path.join(dir, 'slots/1/uploads'))).toBe('../../shared/uploads');
      expect(fs.readlinkSync(path.join(dir, 'slots/1/media/cache'))).toBe('../../../shared/media/cache');
      fs.writeFileSync(path.join(dir, 'current/uploads/photo.jpg'), 'user upload');
    }
    const v2 = await pushed({ 'index.html': 'v2' }, 'v2');
    await pushed({ 'index.html': 'v3' }, 'v3');
    for (const [name, dir] of Object.entries(dirs())) {
      expect(fs.readFileSync(path.join(dir, 'current/uploads/photo.jpg'), 'utf8'), name).toBe('user upload');
      expect(fs.readlinkSync(path.join(dir, 'slots/2/uploads')), name).toBe('../../shared/uploads');
    }
    expect((await farm.fanout(['verify'])).exitCode).toBe(0);

    const before = Object.values(dirs()).map((d) => snapshot(d));
    const bad = await pushed({ 'uploads/oops.jpg': 'committed by mistake' }, 'bad');
    expect(bad.stderr).toMatch(/remote: fanout: commit [0-9a-f]{10} contains "uploads", a shared path \(shared: in the config\).*nothing was touched/);
    Object.values(dirs()).forEach((d, i) => {
      expect(snapshot(d)).toEqual(before[i]);
    });
    expect(v2.commit).not.toBe(bad.commit);
  });
});

describe('slot grace', () => {
  it('a slot that was live moments ago is not written until its grace is over', async () => {
    // a grace that a push on a busy machine still lands within, so that v3 finds slot 1 in it
    configure({ slotGrace: 5 });
    await pushed({ 'index.html': 'v1' }, 'v1');
    await pushed({ 'index.html': 'v2' }, 'v2');
    const retired = Date.parse(journal().web1?.slots?.['1']?.retiredAt ?? '');
    expect(Number.isNaN(retired)).toBe(false);
    const v3 = await pushed({ 'index.html': 'v3' }, 'v3');
    expect(v3.stderr).toMatch(/remote: web1: slot 1 was live moments ago; waiting [\d.]+s for the requests still running on it \(slotGrace\)/);
    // slot 1 was written, and went live again, no sooner than its grace after it stopped being live
    const switched = Date.parse(farm.history().at(-1)?.switch?.at ?? '');
    expect(switched - retired).toBeGreaterThanOrEqual(5000);
    await expectServing(v3.commit);
  });
});

describe('a deploy cut short', () => {
  it('killed while staging: the next deploy stages what is missing and switches; the journal stays true', async () => {
    const v1 = await pushed({ 'index.html': 'v1' }, 'v1');
    const files: Record<string, string> = { 'index.html': 'v2' };
    for (let i = 0; i < 300; i += 1) files[`big/d${i % 20}/f${i}.html`] = `page ${i} `.repeat(60);
    farm.write(files);
    const v2 = await farm.commit('big');
    // about 180 kB at 20 kB/s: its rsync processes, in groups of their own, outlive the fanout
    // killed below by far, however slow this machine is
    configure({ rsync: { args: ['--bwlimit=20'] } });
    await farm.pushWithoutDeploy();
    const { execa } = await import('execa');
    const { CLI } = await import('../../../harness/farm.js');
    const deploy = execa(process.execPath, [CLI, '--config', farm.configFile, 'deploy'], { reject: false });
    // every target's rsync under way (and so marked in the lock file) before fanout is killed
    const writing = (): boolean => Object.values(dirs()).every((dir) => fs.existsSync(path.join(dir, 'slots/2/big')));
    const deadline = Date.now() + 30_000;
    while (!(Object.values(journal()).every((t) => t.slots?.['2']?.attempted.includes(v2)) && writing())) {
      if (Date.now() > deadline) throw new Error('the deploy never began staging');
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    deploy.kill('SIGKILL');
    await deploy;
    // nobody switched: every target serves v1 through slot 1
    expect(live()).toEqual({ web1: 'slots/1', web2: 'slots/1', local: 'slots/1' });
    await expectServing(v1.commit);
    configure();
    const next = await farm.fanout(['deploy']);
    expect(next.exitCode, next.stderr).toBe(0);
    // they would go on writing slot 2 beside the next deploy, and leave their temp files in it
    expect(next.stdout).toMatch(/stopped \d+ process(es)? \(rsync, git, a build\) left running by a fanout that died \(pid \d+, manual by /);
    await expectServing(v2);
    for (const t of Object.values(journal())) expect(t).toMatchObject({ commit: v2, status: 'ok', live: '2', slots: { '2': { commit: v2, attempted: [] } } });
    expect(journal().web1?.switching).toBeUndefined();
  });

  it('killed during a real switch: status says where it stands, and the next deploy finishes the job', async () => {
    const { execa } = await import('execa');
    const { CLI } = await import('../../../harness/farm.js');
    await pushed({ 'index.html': 'v1' }, 'v1');
    // a slow host: a switch (the links pass's source names current-N) takes a second once it is
    // sent, i.e. once fanout has written its file list and closed its stdin
    const slow = path.join(farm.root, 'slow-rsync');
    const list = path.join(farm.root, 'switch-list');
    fs.writeFileSync(slow, `#!/bin/sh\ncase "$*" in *links/current-*) cat > "${list}-$$"; sleep 1; exec rsync "$@" < "${list}-$$" ;; esac\nexec rsync "$@"\n`, { mode: 0o755 });
    configure({ rsync: { path: slow } });
    farm.write({ 'index.html': 'v2' });
    const v2 = await farm.commit('v2');
    await farm.pushWithoutDeploy();
    const deploy = execa(process.execPath, [CLI, '--config', farm.configFile, 'deploy'], { reject: false });
    const deadline = Date.now() + 20_000;
    while (!Object.values(journal()).some((t) => t.switching === '2')) {
      if (Date.now() > deadline) throw new Error('the switch never began');
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    deploy.kill('SIGKILL');
    await deploy;
    const status = await farm.fanout(['status']);
    expect(status.exitCode).toBe(1);
    expect(status.stdout).toMatch(/web1 +failed .*a switch of current to slot 2 was cut short: it points to that slot or to slot 1/);
    configure();
    const next = await farm.fanout(['deploy']);
    expect(next.exitCode).toBe(0);
    // both slots were complete: nothing is sent, current is pinned to the new release
    for (const name of Object.keys(dirs())) expect(next.stdout).toMatch(new RegExp(`${name} +ok +already up to date, slot 2 live`));
    expect(live()).toEqual({ web1: 'slots/2', web2: 'slots/2', local: 'slots/2' });
    await expectServing(v2);
    for (const t of Object.values(journal())) expect(t).toMatchObject({ commit: v2, status: 'ok', live: '2' });
    expect((await farm.fanout(['status'])).exitCode).toBe(0);
  });

  it('killed during the switch (journal says switching): the next deploy pins current, then goes on', async () => {
    await pushed({ 'index.html': 'v1' }, 'v1');
    const v2 = await pushed({ 'index.html': 'v2' }, 'v2');
    // as fanout leaves it when killed after noting the switch back to slot 1 and before rsync ran
    const file = path.join(farm.stateDir, 'state.json');
    const state = JSON.parse(fs.readFileSync(file, 'utf8')) as { targets: Record<string, TargetJournal> };
    for (const t of Object.values(state.targets)) t.switching = '1';
    fs.writeFileSync(file, JSON.stringify(state));
    const status = await farm.fanout(['status']);
    expect(status.exitCode).toBe(1);
    expect(status.stdout).toMatch(/web1 +failed/);
    const v3 = await pushed({ 'index.html': 'v3' }, 'v3');
    expect(v3.stderr).toMatch(/remote: deployed [0-9a-f]{10} "v3" to 3\/3 targets/);
    await expectServing(v3.commit);
    for (const t of Object.values(journal())) {
      expect(t.switching).toBeUndefined();
      expect(t.status).toBe('ok');
    }
    expect(v2.commit).not.toBe(v3.commit);
  });
});

describe('moving an in-place farm to slots', () => {
  it('the first slot is seeded from the files in place (nothing sent again), then the web server is pointed at current', async () => {
    farm.writeConfig({}, [...farm.daemons.map((d) => ({ name: d.name, dest: d.dest, passwordFile: d.passwordFile })), { name: 'local', dest: `${local}/` }]);
    const files: Record<string, string> = {};
    for (let i = 0; i < 50; i += 1) files[`p${i}.html`] = `page ${i}`;
    const v1 = await pushed(files, 'in place');
    for (const dir of Object.values(dirs())) {
      expect(fs.readFileSync(path.join(dir, 'p1.html'), 'utf8')).toBe('page 1');
      // what the application wrote, moved into shared/ with a symlink left behind (docs/guides/moving-to-slots.md, step 1)
      fs.mkdirSync(path.join(dir, 'shared/uploads'), { recursive: true });
      fs.writeFileSync(path.join(dir, 'shared/uploads/photo.jpg'), 'user upload');
      fs.symlinkSync('shared/uploads', path.join(dir, 'uploads'));
    }
    configure({ shared: ['uploads'] });
    const moved = await farm.fanout(['deploy']);
    expect(moved.exitCode).toBe(0);
    // every file was already on the host: copied there, not sent
    for (const name of Object.keys(dirs())) expect(moved.stdout).toMatch(new RegExp(`${name} +ok +0 sent, 0 deleted \\(full pass\\)`));
    expect(live()).toEqual({ web1: 'slots/1', web2: 'slots/1', local: 'slots/1' });
    await expectServing(v1.commit);
    // the files in place are still there, served until the web server is pointed at current;
    // the uploads are reached from both
    for (const dir of Object.values(dirs())) {
      expect(fs.readFileSync(path.join(dir, 'p1.html'), 'utf8')).toBe('page 1');
      expect(fs.readFileSync(path.join(dir, 'uploads/photo.jpg'), 'utf8')).toBe('user upload');
      expect(fs.readFileSync(path.join(dir, 'current/uploads/photo.jpg'), 'utf8')).toBe('user upload');
    }
    const v2 = await pushed({ 'p1.html': 'page one' }, 'v2');
    expect(v2.stderr).toMatch(/remote: +web1 +ok +1 sent/);
    await expectServing(v2.commit);
  });
});

describe('doctor and status with slots', () => {
  it('doctor finds current pointing into a slot, and names one that is a directory; status shows each slot', async () => {
    const before = await farm.fanout(['doctor']);
    expect(before.stdout).toMatch(/ok +web1 current +not there yet: the first deploy makes it/);
    expect(before.stdout).toMatch(/ok +web1 slots +release directories can be made under slots\//);
    const v1 = await pushed({ 'index.html': 'v1' }, 'v1');
    await pushed({ 'index.html': 'v2' }, 'v2');
    const good = await farm.fanout(['doctor']);
    expect(good.exitCode, good.stdout).toBe(0);
    expect(good.stdout).toMatch(/ok +web1 current +-> slots\/2/);
    expect(good.stdout).toMatch(/ok +local current +-> slots\/2/);
    for (const dir of Object.values(dirs())) expect(fs.readdirSync(path.join(dir, 'slots')).filter((n) => n.startsWith('.fanout-probe'))).toEqual([]);

    const status = await farm.fanout(['status']);
    expect(status.stdout).toMatch(new RegExp(`web1 +ok .*slot 2 live; slot 1 holds ${v1.commit.slice(0, 10)}`));
    const json = JSON.parse((await farm.fanout(['status', '--json'])).stdout) as { targets: { name: string; live: string; slots: { slot: string; commit: string }[] }[] };
    expect(json.targets[0]).toMatchObject({ live: '2', slots: [{ slot: '1', commit: v1.commit }, { slot: '2' }] });
    const history = await farm.fanout(['history', '--limit', '1']);
    expect(history.stdout).toMatch(/switched 3 within \d+ ms/);

    const web1 = farm.daemons[0];
    if (!web1) throw new Error('daemon expected');
    fs.rmSync(path.join(web1.dir, 'current'));
    fs.mkdirSync(path.join(web1.dir, 'current'));
    const bad = await farm.fanout(['doctor', '--target', 'web1']);
    expect(bad.exitCode).toBe(1);
    expect(bad.stdout).toMatch(/problem +web1 current +current is not a symlink: fanout cannot switch it in one step/);
  });
});

describe('watch with slots', () => {
  it('each batch is staged and switched like a deploy; the slot it left gets the edit with the next one', async () => {
    const { startWatch, until } = await import('../../../harness/watcher.js');
    const v1 = await pushed({ 'index.html': 'v1', 'page.html': 'page' }, 'v1');
    const deploys = farm.history().length;
    const watcher = await startWatch(farm.configFile);
    // its first pass (a full one, for edits made while it was not running) is done before the edits
    await until(() => farm.history().length > deploys, () => `no first pass: ${watcher.lines.join('\n')}`);
    const serving = (rel: string, content: string): boolean => Object.values(dirs()).every((dir) => fs.existsSync(path.join(dir, 'current', rel)) && fs.readFileSync(path.join(dir, 'current', rel), 'utf8') === content);
    try {
      fs.writeFileSync(path.join(farm.source, 'hot.html'), 'hot fix');
      await until(() => serving('hot.html', 'hot fix'), () => `not served: ${watcher.lines.join('\n')}`);
      // the batch went into the slot nothing served, which then went live; the other slot lacks it
      // current changes before the journal records it: wait for the record too
      const first = (live().web1 ?? '').replace('slots/', '');
      const other = first === '1' ? '2' : '1';
      await until(() => journal().web1?.live === first && journal().web1?.switching === undefined, () => 'the journal never recorded the switch');
      expect(new Set(Object.values(live()))).toEqual(new Set([`slots/${first}`]));
      for (const dir of Object.values(dirs())) expect(fs.existsSync(path.join(dir, `slots/${other}/hot.html`))).toBe(false);
      expect(journal().web1?.slots?.[other]).toMatchObject({ dirty: ['hot.html'] });
      fs.writeFileSync(path.join(farm.source, 'page.html'), 'page, edited');
      await until(() => serving('page.html', 'page, edited'), () => `not served: ${watcher.lines.join('\n')}`);
      await until(() => journal().web1?.live === other && journal().web1?.switching === undefined, () => 'the journal never recorded the switch');
      // that batch went into the other slot, with the first edit it lacked
      expect(live()).toEqual({ web1: `slots/${other}`, web2: `slots/${other}`, local: `slots/${other}` });
      for (const dir of Object.values(dirs())) expect(fs.readFileSync(path.join(dir, `slots/${other}/hot.html`), 'utf8')).toBe('hot fix');
      expect(journal().web1?.slots?.[other]?.dirty).toBeUndefined();
      expect(v1.commit).toBe(journal().web1?.commit);
    } finally {
      await watcher.stop();
    }
    expect((await farm.fanout(['verify'])).exitCode).toBe(0);
    expect((await farm.fanout(['status'])).exitCode).toBe(0);
  });
});

describe('a dry run with slots', () => {
  it('says which slot each target would stage, and touches nothing', async () => {
    await pushed({ 'index.html': 'v1' }, 'v1');
    farm.write({ 'index.html': 'v2' });
    await farm.commit('v2');
    await farm.pushWithoutDeploy();
    const before = Object.values(dirs()).map((d) => snapshot(d));
    const dry = await farm.fanout(['deploy', '--dry-run']);
    expect(dry.exitCode).toBe(0);
    // slot 2 has never held anything: the real run would fill it whole (copying on the host what it can)
    expect(dry.stdout).toMatch(/web1 +ok +0 sent, 0 deleted \(full pass\), slot 2 /);
    expect(dry.stdout).toContain('a full pass (no deploy recorded for this target)');
    expect(dry.stdout).toContain('would deploy');
    Object.values(dirs()).forEach((d, i) => {
      expect(snapshot(d)).toEqual(before[i]);
    });
  });
});
