import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HistoryEntry } from '../../../src/engine/journal.js';
import { GIT_IDENTITY, createFarm, type Farm } from '../../../harness/farm.js';
import { diffSnapshots, snapshot, snapshotCommit } from '../../../harness/tree.js';

/** Pushes that arrive in a burst, and history rewritten under fanout's feet. */

let farm: Farm;

beforeAll(async () => {
  farm = await createFarm({ targets: 2, firstHost: 66 });
  const files: Record<string, string> = { 'index.html': 'v0' };
  for (let i = 0; i < 500; i += 1) files[`pages/p${i}.html`] = `page ${i} `.repeat(40);
  farm.write(files);
  await farm.commit('v0');
  await farm.push();
});

afterAll(async () => {
  await farm.cleanup();
});

async function expectAt(commit: string): Promise<void> {
  const expected = await snapshotCommit(farm.repo, commit, farm.root);
  for (const d of farm.daemons) expect(diffSnapshots(expected, snapshot(d.dir)), d.name).toEqual([]);
}

async function tipOfMain(): Promise<string> {
  return (await execa('git', ['--git-dir', farm.repo, 'rev-parse', 'refs/heads/main'])).stdout.trim();
}

describe('a burst of pushes', () => {
  it('10 pushes queued behind a deploy: they wait their turn, the first to go deploys the last push, the other nine do nothing', async () => {
    const before = farm.history().length;
    const commits: string[] = [];
    for (let i = 1; i <= 10; i += 1) {
      farm.write({ 'index.html': `burst ${i}`, [`pages/p${i}.html`]: `burst page ${i}` });
      commits.push(await farm.commit(`burst ${i}`));
    }
    // a deploy in progress: the lock held by another process while the ten pushes arrive
    const lockFile = path.join(farm.stateDir, 'lock');
    // --no-fork: the lock belongs to the sleep itself, so killing it frees the lock
    const holder = execa('flock', ['--no-fork', lockFile, 'sleep', '120'], { reject: false });
    const log = path.join(farm.stateDir, 'fanout.log');
    const waiting = (): number => fs.readFileSync(log, 'utf8').split('\n').filter((l) => l.includes('"waiting for the deploy lock"')).length;
    const waitingBefore = waiting();
    const pushes: Promise<{ exitCode: number; stderr: string }>[] = [];
    try {
      for (const commit of commits) {
        pushes.push(farm.push(['origin', `${commit}:refs/heads/main`]));
        const deadline = Date.now() + 30_000;
        // the next push starts once this one's hook waits for the lock
        while (waiting() - waitingBefore < pushes.length) {
          if (Date.now() > deadline) throw new Error(`the hook for ${commit} never queued`);
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      }
      expect(await tipOfMain()).toBe(commits.at(-1));
    } finally {
      holder.kill();
      await holder;
    }
    const results = await Promise.all(pushes);
    for (const r of results) expect(r.exitCode).toBe(0);
    const last = commits.at(-1) ?? '';
    await expectAt(last);

    const burst = farm.history().slice(before);
    expect(burst.map((e) => e.commit)).toEqual([last]);
    expect(burst[0]?.targets.map((t) => t.status)).toEqual(['ok', 'ok']);
    const skipped = results.filter((r) => /remote: fanout: [0-9a-f]{10} is already on every target \(deploy #\d+ took it there\); nothing to do/.test(r.stderr));
    expect(skipped).toHaveLength(9);
  });
});

describe('history rewritten', () => {
  it('a force push deploys the new tip, each target diffed from the commit it has', async () => {
    const old = (await farm.git(['rev-parse', 'HEAD'])).stdout.trim();
    await farm.git(['reset', '-q', '--hard', 'HEAD~3']);
    farm.write({ 'rewritten.html': 'a new line of history' });
    const rewritten = await farm.commit('rewritten');
    const push = await farm.push(['--force', 'origin', 'HEAD:main']);
    expect(push.exitCode).toBe(0);
    // only what differs between the old tip, which the targets have, and the rewritten one
    const changed = (await execa('git', ['--git-dir', farm.repo, 'diff', '--name-only', old, rewritten])).stdout.trim().split('\n');
    expect(push.stderr).toMatch(new RegExp(`remote: +web1 +ok +${changed.length} sent`));
    await expectAt(rewritten);
  });

  it('a force push whose old commit is gone from the repository (gc): a full pass, and the old commit’s files do not linger', async () => {
    farm.write({ 'only-in-lost.html': 'this commit will be lost' });
    const lost = await farm.commit('soon lost');
    await farm.push();
    await expectAt(lost);

    await farm.git(['reset', '-q', '--hard', 'HEAD~1']);
    farm.write({ 'after-gc.html': 'the tip after the rewrite' });
    const tip = await farm.commit('after the rewrite');
    // the rewrite lands with the hook moved aside, and gc drops the old commit before any deploy
    expect((await farm.pushWithoutDeploy(['--force', 'origin', 'HEAD:main'])).exitCode).toBe(0);
    await execa('git', ['--git-dir', farm.repo, 'reflog', 'expire', '--expire=now', '--all'], { env: GIT_IDENTITY });
    await execa('git', ['--git-dir', farm.repo, 'gc', '-q', '--prune=now'], { env: GIT_IDENTITY });
    const gone = await execa('git', ['--git-dir', farm.repo, 'cat-file', '-e', `${lost}^{commit}`], { reject: false });
    expect(gone.exitCode).not.toBe(0);

    const result = await farm.fanout(['deploy', '--json']);
    expect(result.exitCode).toBe(0);
    const entry = (JSON.parse(result.stdout) as { deploys: HistoryEntry[] }).deploys[0];
    expect(entry?.targets.map((t) => t.mode)).toEqual(['full', 'full']);
    await expectAt(tip);
    expect(fs.existsSync(path.join(farm.source, 'only-in-lost.html'))).toBe(false);
  });
});
