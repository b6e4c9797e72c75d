import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createFarm, type Farm } from '../../../harness/farm.js';
import { startWatch, until, type Watcher } from '../../../harness/watcher.js';

// fanout watch against the kernel's inotify watch limit. Each case runs fanout in a user namespace
// of its own with /proc/sys/user/max_inotify_watches lowered there, so the machine's own limit is
// never touched.

let farm: Farm;
let watcher: Watcher | undefined;

/** Run under a new user namespace whose inotify watch limit is `limit`. */
function limitedTo(limit: number): string[] {
  return ['unshare', '--user', '--map-root-user', 'sh', '-c', `echo ${limit} > /proc/sys/user/max_inotify_watches && exec "$@"`, 'sh'];
}

const userNamespaces = (await execa('unshare', ['--user', '--map-root-user', 'true'], { reject: false })).exitCode === 0;

beforeAll(async () => {
  farm = await createFarm({ targets: 2, firstHost: 130, config: { retryDelay: 0.2, watch: { maxRetryDelay: 1 } } });
  // the source: its root and four directories, five watches
  farm.write({ 'index.html': 'home', 'a/1.html': '1', 'b/2.html': '2', 'c/3.html': '3', 'd/4.html': '4' });
  await farm.commit('site');
  await farm.push();
});

afterEach(async () => {
  await watcher?.stop();
  watcher = undefined;
});

afterAll(async () => {
  await farm.cleanup();
});

function onEveryTarget(rel: string, content?: string): boolean {
  return farm.daemons.every((d) => {
    const file = path.join(d.dir, rel);
    return content === undefined ? fs.existsSync(file) : fs.existsSync(file) && fs.readFileSync(file, 'utf8') === content;
  });
}

function watchBatches(): number {
  return farm.history().filter((e) => e.reason === 'watch').length;
}

describe.skipIf(!userNamespaces)('fanout watch and the inotify watch limit', () => {
  it('warns at start when the directories take more than 80% of the watches; a directory it cannot watch is polled, with a warning naming the sysctl', async () => {
    // five directories against six watches: 83%; one new directory can still be watched, the next cannot
    watcher = await startWatch(farm.configFile, { wrap: limitedTo(6) });
    expect(watcher.lines.some((l) => /^warning: the source has 5 directories, 83% of the 6 inotify watches this user may have; .*sysctl fs\.inotify\.max_user_watches=/.test(l))).toBe(true);

    fs.mkdirSync(path.join(farm.source, 'new1'));
    fs.mkdirSync(path.join(farm.source, 'new2'));
    await until(
      () => watcher?.lines.some((l) => /^warning: a new directory cannot be watched \(new2\): the inotify watch limit is reached; fanout polls it every 1s instead; raise the inotify watch limit \(now 6\): sysctl fs\.inotify\.max_user_watches=/.test(l)) === true,
      () => `no warning: ${watcher?.lines.join('\n') ?? ''}`,
    );
    await until(
      () => onEveryTarget('new2'),
      () => 'new2 never arrived',
    );
    // written after its directory was created: no inotify event exists for it anywhere
    fs.writeFileSync(path.join(farm.source, 'new2/late.html'), 'late');
    fs.writeFileSync(path.join(farm.source, 'new1/watched.html'), 'watched');
    await until(
      () => onEveryTarget('new2/late.html', 'late') && onEveryTarget('new1/watched.html', 'watched'),
      () => `not arrived: ${watcher?.lines.join('\n') ?? ''}`,
    );
    fs.writeFileSync(path.join(farm.source, 'new2/late.html'), 'later');
    fs.rmSync(path.join(farm.source, 'new1'), { recursive: true });
    await until(
      () => onEveryTarget('new2/late.html', 'later') && !farm.daemons.some((d) => fs.existsSync(path.join(d.dir, 'new1'))),
      () => `not arrived: ${watcher?.lines.join('\n') ?? ''}`,
    );
    const status = await farm.fanout(['status']);
    expect(status.exitCode).toBe(1);
    expect(status.stdout).toMatch(/^watch: DEGRADED since .*: a new directory cannot be watched \(new2\)/m);
    fs.rmSync(path.join(farm.source, 'new2'), { recursive: true });
  });

  it('a watcher that cannot set its watches up backs off, then fanout watch exits 1 naming the limit: no loop of full passes', async () => {
    const batches = watchBatches();
    watcher = await startWatch(farm.configFile, { wrap: limitedTo(2), ready: null });
    const exit = await Promise.race([watcher.child, new Promise<undefined>((resolve) => setTimeout(resolve, 30_000, undefined))]);
    expect(exit, `still running: ${watcher.lines.join('\n')}`).toBeDefined();
    expect(exit?.exitCode).toBe(1);
    const said = watcher.lines.join('\n');
    expect(said).toMatch(/watcher cannot start \(Failed to watch .*upper limit on inotify watches reached!\); trying again in 0\.2s/);
    expect(said).toMatch(/fanout: watch: inotifywait cannot watch .* \(Failed to watch .*\); raise the inotify watch limit \(now 2\): sysctl fs\.inotify\.max_user_watches=65536.*; gave up after 5 attempts/);
    // nothing was deployed while it could not watch
    expect(watchBatches()).toBe(batches);
    watcher = undefined;

    const status = await farm.fanout(['status']);
    expect(status.exitCode).toBe(1);
    expect(status.stdout).toMatch(/^watch: not running \(it failed at .*: watch: inotifywait cannot watch/m);
  });
});
