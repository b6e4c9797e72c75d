import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFarm, type Farm } from '../../../harness/farm.js';
import { until } from '../../../harness/watcher.js';

// What the person deploying sees while a deploy runs: a line at each phase and the progress line
// every 2 s in a pipe (the pusher's remote: lines), events on stderr with --json. rsync's --bwlimit
// makes the push take seconds, so that there is progress to see; nothing here depends on how many.

let farm: Farm;

/** rsync's own pace, in KiB/s for each target: 60 files of 25 kB take 7 s or more. */
const BWLIMIT = 200;
const FILES = 60;

beforeAll(async () => {
  farm = await createFarm({ targets: 2, firstHost: 126, config: { rsync: { args: [`--bwlimit=${BWLIMIT}`] } } });
  farm.write({ 'index.html': '<h1>home</h1>' });
  await farm.commit('home');
  expect((await farm.push()).exitCode).toBe(0);
});

afterAll(async () => {
  await farm.cleanup();
});

function remoteLines(output: string): string[] {
  return output
    .split('\n')
    .filter((l) => l.startsWith('remote: '))
    .map((l) => l.slice('remote: '.length).trimEnd());
}

/** Pages of random bytes (rsync compresses nothing it sends here, but no content repeats either). */
function pages(prefix: string, count: number, bytes: number): Record<string, string> {
  return Object.fromEntries(Array.from({ length: count }, (_, i) => [`${prefix}/page${i}.html`, crypto.randomBytes(bytes / 2).toString('hex')]));
}

/** The transfer's progress lines: percent, files done and of how many. */
function transferProgress(lines: readonly string[]): { percent: number; files: number; of: number; line: string }[] {
  return lines.flatMap((line) => {
    const m = /^transfer: (\d+)% \(ok \d+, failed \d+, left \d+; (\d+)\/(\d+) files, [\d.]+ [kMG]?B\/[\d.]+ [kMG]?B; /.exec(line);
    return m === null ? [] : [{ percent: Number(m[1]), files: Number(m[2]), of: Number(m[3]), line }];
  });
}

/** A progress line of the 2 s beat: it ends with the time the phase has taken (and an estimate). */
function isBeat(line: string): boolean {
  return /; (\d+m)?[\d.]+s(, about (\d+m)?\d+s left)?\)?$/.test(line);
}

describe('progress', () => {
  it('the pusher sees the checkout, the transfer with its totals, its progress every 2 s, then the results; a deploy waiting meanwhile says whose it waits for', async () => {
    farm.write(pages('big', FILES, 25_000));
    const commit = await farm.commit('sixty pages');
    const pushing = farm.push();
    // the push holds the lock: a deploy by hand waits for it, and says whose deploy that is
    const lockFile = path.join(farm.stateDir, 'lock');
    await until(() => fs.existsSync(lockFile) && fs.readFileSync(lockFile, 'utf8').includes('push by git push by'), () => 'the push never took the lock');
    const waiting = await farm.fanout(['deploy']);
    const push = await pushing;
    expect(push.exitCode).toBe(0);
    expect(waiting.exitCode).toBe(0);
    expect(waiting.stdout).toMatch(/^waiting for the deploy in progress \(pid \d+, push by git push by \S+.*, since /m);

    const lines = remoteLines(push.stderr);
    const checkout = lines.findIndex((l) => l === `checkout: ${commit.slice(0, 10)}, ${FILES} paths`);
    const transfer = lines.findIndex((l) => l === `transfer: 2 targets, ${2 * FILES} files (3.0 MB) to send`);
    expect(checkout, push.stderr).toBeGreaterThanOrEqual(0);
    expect(transfer, push.stderr).toBeGreaterThan(checkout);
    const progress = transferProgress(lines.slice(transfer));
    expect(progress.length, push.stderr).toBeGreaterThan(1);
    for (const [i, p] of progress.entries()) {
      expect(p.of).toBe(2 * FILES);
      if (i > 0) expect(p.files, p.line).toBeGreaterThanOrEqual(progress[i - 1]?.files ?? 0);
    }
    expect(progress.at(-1)?.files ?? 0).toBeGreaterThan(progress[0]?.files ?? 0);
    // once 5% is done and 2 s have gone by, an estimate
    expect(progress.some((p) => / about (\d+m)?\d+s left\)$/.test(p.line)), push.stderr).toBe(true);
    // the results as they were: a line per target, the summary last
    for (const name of ['web1', 'web2']) expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^  ${name}  ok      ${FILES} sent \\(1\\.5 MB\\), 0 deleted  `)));
    expect(lines.at(-1)).toMatch(new RegExp(`^deployed ${commit.slice(0, 10)} "sixty pages" to 2/2 targets in .*; pushed by `));
  });

  it('fanout deploy in a pipe: the phases on stderr, the report on stdout as it was', async () => {
    farm.write({ 'small/a.html': 'a', 'small/b.html': 'bb' });
    const commit = await farm.commit('two small pages');
    await farm.pushWithoutDeploy();
    const deploy = await farm.fanout(['deploy']);
    expect(deploy.exitCode, deploy.stderr).toBe(0);
    // a slow machine may add the 2 s beat of a phase; the phases' own lines are these, in order
    expect(deploy.stderr.split('\n').filter((l) => !isBeat(l))).toEqual([`checkout: ${commit.slice(0, 10)}, 2 paths`, 'transfer: 2 targets, 4 files (6 B) to send']);
    // a line per target as it finishes (in either order), the summary last, and nothing else
    const report = deploy.stdout.split('\n');
    expect(report).toHaveLength(3);
    const [first, second] = report.slice(0, 2).sort();
    expect(first).toMatch(/^ {2}web1 {2}ok {6}2 sent \(3 B\), 0 deleted {2}/);
    expect(second).toMatch(/^ {2}web2 {2}ok {6}2 sent \(3 B\), 0 deleted {2}/);
    expect(report[2]).toMatch(new RegExp(`^deployed ${commit.slice(0, 10)} "two small pages" to 2/2 targets in [\\d.]+s$`));
  });

  it('--json: progress as events on stderr, a JSON object a line; stdout the one document', async () => {
    farm.write({ 'small/c.html': 'ccc' });
    const commit = await farm.commit('a third small page');
    await farm.pushWithoutDeploy();
    const deploy = await farm.fanout(['deploy', '--json']);
    expect(deploy.exitCode, deploy.stderr).toBe(0);
    const document = JSON.parse(deploy.stdout) as { ok: boolean; deploys: { commit: string }[] };
    expect(document).toMatchObject({ ok: true, deploys: [{ commit }] });
    const events = deploy.stderr
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { event: string; phase: string; detail?: string; targets?: unknown[] });
    const phases = events.filter((e) => e.event === 'phase');
    expect(phases.map((e) => e.phase)).toEqual(['plan', 'checkout', 'transfer']);
    expect(phases[1]?.detail).toBe(`${commit.slice(0, 10)}, 1 path`);
    expect(phases[2]?.targets).toEqual([
      { name: 'web1', total: { files: 1, bytes: 3 } },
      { name: 'web2', total: { files: 1, bytes: 3 } },
    ]);
    expect(events.every((e) => ['phase', 'progress'].includes(e.event))).toBe(true);
  });
});
