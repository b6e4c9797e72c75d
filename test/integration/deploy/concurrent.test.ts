import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GIT_IDENTITY, createFarm, type Farm } from '../../../harness/farm.js';
import { diffSnapshots, snapshot, snapshotCommit } from '../../../harness/tree.js';

let farm: Farm;

beforeAll(async () => {
  farm = await createFarm({ targets: 2, firstHost: 22 });
});

afterAll(async () => {
  await farm.cleanup();
});

describe('deploys never interleave', () => {
  it('concurrent pushes and a manual deploy run one at a time and end at the branch tip', async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 3000; i += 1) files[`d${i % 30}/f${i}.html`] = `page ${i} `.repeat(40);
    farm.write(files);
    await farm.commit('base');
    await farm.push();

    // A second clone pushes a commit built on top of the first clone's next one.
    farm.write({ 'a.html': 'from clone one', 'd1/f1.html': 'changed' });
    const first = await farm.commit('first');
    const other = path.join(farm.root, 'clone2');
    await execa('git', ['clone', '-q', farm.clone, other]);
    fs.writeFileSync(path.join(other, 'b.html'), 'from clone two');
    fs.rmSync(path.join(other, 'd2'), { recursive: true });
    await execa('git', ['add', '-A'], { cwd: other });
    await execa('git', ['commit', '-q', '-m', 'second'], { cwd: other, env: GIT_IDENTITY });
    const second = (await execa('git', ['rev-parse', 'HEAD'], { cwd: other })).stdout.trim();

    // The second push starts once the first has moved the branch, i.e. while its hook deploys.
    const firstPush = farm.push(['origin', `${first}:refs/heads/main`]);
    const deadline = Date.now() + 20_000;
    while ((await execa('git', ['--git-dir', farm.repo, 'rev-parse', 'main'])).stdout.trim() !== first) {
      if (Date.now() > deadline) throw new Error('first push never landed');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const pushes = await Promise.all([
      firstPush,
      execa('git', ['push', farm.repo, 'HEAD:refs/heads/main'], { cwd: other, reject: false }),
      farm.fanout(['deploy']),
    ]);
    for (const p of pushes) expect(p.exitCode).toBe(0);

    const expected = await snapshotCommit(farm.repo, second, farm.root);
    for (const d of farm.daemons) expect(diffSnapshots(expected, snapshot(d.dir))).toEqual([]);

    const history = farm.history();
    // the base push, then at least the manual deploy (a push that finds its commit already deployed records nothing)
    expect(history.length).toBeGreaterThanOrEqual(2);
    for (let i = 1; i < history.length; i += 1) {
      const previous = history[i - 1];
      const current = history[i];
      if (!previous || !current) continue;
      expect(Date.parse(current.startedAt)).toBeGreaterThanOrEqual(Date.parse(previous.finishedAt));
      expect(current.id).toBe(previous.id + 1);
    }
    expect(history.at(-1)?.commit).toBe(second);
  });
});
