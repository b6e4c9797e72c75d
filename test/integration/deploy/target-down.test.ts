import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFarm, type Farm } from '../../../harness/farm.js';
import { diffSnapshots, snapshot, snapshotCommit } from '../../../harness/tree.js';

let farm: Farm;

beforeAll(async () => {
  farm = await createFarm({ targets: 3, firstHost: 12 });
});

afterAll(async () => {
  await farm.cleanup();
});

interface StateFile {
  targets: Record<string, { commit: string | null; status: string; error?: string; attempted: string[] }>;
}

function state(): StateFile {
  return JSON.parse(fs.readFileSync(path.join(farm.stateDir, 'state.json'), 'utf8')) as StateFile;
}

async function expectAt(dir: string, commit: string): Promise<void> {
  expect(diffSnapshots(await snapshotCommit(farm.repo, commit, farm.root), snapshot(dir))).toEqual([]);
}

describe('one target down', () => {
  it('fails alone, the others succeed, and it is caught up later from its own last commit', async () => {
    const [web1, web2, web3] = farm.daemons;
    if (!web1 || !web2 || !web3) throw new Error('three daemons expected');
    farm.write({ 'index.html': 'v1', 'old/page.html': 'old', 'keep.html': 'keep' });
    const c1 = await farm.commit('v1');
    await farm.push();
    for (const d of farm.daemons) await expectAt(d.dir, c1);

    await web2.stop();
    farm.write({ 'index.html': 'v2', 'new/page.html': 'new' });
    farm.remove('old');
    const c2 = await farm.commit('v2');
    const push = (await farm.push()).stderr;
    expect(push).toMatch(/remote: +web2 +failed +cannot connect/);
    expect(push).toMatch(/FAILED: web2/);
    await expectAt(web1.dir, c2);
    await expectAt(web3.dir, c2);
    await expectAt(web2.dir, c1);
    // refused before anything moved: no half-written paths to re-send later
    expect(state().targets.web2).toMatchObject({ commit: c1, status: 'failed', attempted: [] });

    // a manual deploy while it is still down exits 1 and names it
    const manual = await farm.fanout(['deploy']);
    expect(manual.exitCode).toBe(1);
    expect(manual.stdout).toMatch(/web2 +failed/);
    expect(manual.stdout).toMatch(/web1 +ok +already up to date/);

    await web2.start();
    farm.writeConfig();
    farm.write({ 'keep.html': 'keep v3' });
    const c3 = await farm.commit('v3');
    const catchUp = (await farm.push()).stderr;
    // web2 receives the diff from c1 (its own commit): index, new/page, keep; old/page and old/ deleted
    expect(catchUp).toMatch(/remote: +web2 +ok +3 sent \([^)]+\), 2 deleted/);
    expect(catchUp).toMatch(/remote: +web1 +ok +1 sent \([^)]+\), 0 deleted/);
    for (const d of farm.daemons) await expectAt(d.dir, c3);
    expect(state().targets.web2).toMatchObject({ commit: c3, status: 'ok', attempted: [] });
  });
});

describe('nothing reached', () => {
  it('every host down: the summary says no target took the commit, not "deployed to 0/3"; back up, the next deploy sends it', async () => {
    for (const d of farm.daemons) await d.stop();
    try {
      farm.write({ 'index.html': 'while every host was down' });
      const commit = await farm.commit('nobody gets this');
      const push = (await farm.push()).stderr;
      expect(push).toMatch(new RegExp(`remote: ${commit.slice(0, 10)} "nobody gets this" reached no target: web1, web2, web3 failed \\(see above\\)`));
      expect(push).not.toMatch(/deployed .* to 0\/3/);
    } finally {
      for (const d of farm.daemons) await d.start();
      farm.writeConfig();
    }
    expect((await farm.fanout(['deploy'])).exitCode).toBe(0);
  });

  it('rsync missing on the update server: one line, exit 1, found before the source is checked out', async () => {
    const before = snapshot(farm.source);
    farm.writeConfig({ rsync: { path: path.join(farm.root, 'no-such-rsync') } });
    try {
      farm.write({ 'index.html': 'never checked out' });
      await farm.commit('no rsync');
      await farm.pushWithoutDeploy();
      const deploy = await farm.fanout(['deploy']);
      expect(deploy.exitCode).toBe(1);
      expect(deploy.stderr.trim()).toMatch(/^fanout: cannot start .*no-such-rsync: not found \(is it installed, and on the PATH\?\); nothing was touched/);
      expect(snapshot(farm.source)).toEqual(before);
    } finally {
      farm.writeConfig();
    }
    expect((await farm.fanout(['deploy'])).exitCode).toBe(0);
  });
});
