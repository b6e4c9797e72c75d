import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createFarm, type Farm } from '../../../harness/farm.js';
import { diffSnapshots, snapshot } from '../../../harness/tree.js';
import { startWatch, until, type Watcher } from '../../../harness/watcher.js';

// Names are bytes from strangers: a name that is not UTF-8, a name rsync would read as a comment,
// a name that begins with "..", a directory named like rsync's own staging directory.

let farm: Farm;
let watcher: Watcher | undefined;

/** `caf\xe9.html`: Latin-1, not valid UTF-8 */
const LATIN1 = Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x2e, 0x68, 0x74, 0x6d, 0x6c]);

beforeAll(async () => {
  farm = await createFarm({ targets: 2, firstHost: 120, config: { retryDelay: 0.3 } });
  farm.write({ 'index.html': 'home' });
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

function bytesPath(dir: string, name: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${dir}/`), name]);
}

/** A directory's entry names, as the bytes the file system holds. */
function names(dir: string): Buffer[] {
  return fs.readdirSync(dir, { encoding: 'buffer' });
}

function holds(dir: string, name: Buffer): boolean {
  return names(dir).some((n) => n.equals(name));
}

async function pushOk(): Promise<string> {
  const push = await farm.push();
  for (const d of farm.daemons) expect(push.stderr, push.stderr).toMatch(new RegExp(`remote: +${d.name} +ok `));
  return push.stderr;
}

function expectTargetsEqualSource(): void {
  for (const d of farm.daemons) expect(diffSnapshots(snapshot(farm.source), snapshot(d.dir)), d.name).toEqual([]);
}

describe('a name that is not UTF-8 stays its bytes, from git and from inotify to rsync', () => {
  it('is added, changed and deleted on every target under its own name', async () => {
    fs.writeFileSync(bytesPath(farm.clone, LATIN1), 'v1');
    await farm.commit('latin-1 name');
    await pushOk();
    for (const d of farm.daemons) expect(fs.readFileSync(bytesPath(d.dir, LATIN1), 'utf8'), d.name).toBe('v1');

    fs.writeFileSync(bytesPath(farm.clone, LATIN1), 'v2');
    await farm.commit('change it');
    const output = await pushOk();
    for (const d of farm.daemons) {
      expect(output).toMatch(new RegExp(`remote: +${d.name} +ok +1 sent`));
      expect(fs.readFileSync(bytesPath(d.dir, LATIN1), 'utf8'), d.name).toBe('v2');
      // no second, mangled name beside it (U+FFFD written as UTF-8)
      expect(names(d.dir).filter((n) => n.includes(Buffer.from('\ufffd'))), d.name).toEqual([]);
    }
    expect(fs.readFileSync(bytesPath(farm.source, LATIN1), 'utf8')).toBe('v2');

    fs.rmSync(bytesPath(farm.clone, LATIN1));
    await farm.commit('delete it');
    await pushOk();
    for (const d of farm.daemons) expect(holds(d.dir, LATIN1), d.name).toBe(false);
    expectTargetsEqualSource();
  });

  it('is sent by watch when written into the source', async () => {
    watcher = await startWatch(farm.configFile);
    fs.mkdirSync(bytesPath(farm.source, Buffer.concat([Buffer.from('dir-'), LATIN1])));
    fs.writeFileSync(bytesPath(farm.source, LATIN1), 'edited by hand');
    await until(
      () => farm.daemons.every((d) => holds(d.dir, LATIN1) && fs.readFileSync(bytesPath(d.dir, LATIN1), 'utf8') === 'edited by hand'),
      () => `not arrived: ${watcher?.lines.join('\n') ?? ''}`,
    );
    await until(
      () => farm.daemons.every((d) => diffSnapshots(snapshot(farm.source), snapshot(d.dir)).length === 0),
      () => farm.daemons.map((d) => diffSnapshots(snapshot(farm.source), snapshot(d.dir)).join('; ')).join('\n'),
    );
    fs.rmSync(bytesPath(farm.source, LATIN1));
    fs.rmdirSync(bytesPath(farm.source, Buffer.concat([Buffer.from('dir-'), LATIN1])));
    await until(
      () => farm.daemons.every((d) => !holds(d.dir, LATIN1)),
      () => 'not deleted',
    );
  });
});

describe('names rsync would otherwise misread', () => {
  it('top-level names beginning with # or ; are added, changed and deleted (rsync reads such a line as a comment)', async () => {
    farm.write({ '#notes.html': 'n1', ';x': 'x1' });
    await farm.commit('comment-like names');
    await pushOk();
    farm.write({ '#notes.html': 'n2', ';x': 'x2' });
    await farm.commit('change them');
    await pushOk();
    for (const d of farm.daemons) {
      expect(fs.readFileSync(path.join(d.dir, '#notes.html'), 'utf8'), d.name).toBe('n2');
      expect(fs.readFileSync(path.join(d.dir, ';x'), 'utf8'), d.name).toBe('x2');
    }
    farm.remove('#notes.html', ';x');
    await farm.commit('delete them');
    await pushOk();
    for (const d of farm.daemons) {
      expect(fs.existsSync(path.join(d.dir, '#notes.html')), d.name).toBe(false);
      expect(fs.existsSync(path.join(d.dir, ';x')), d.name).toBe(false);
    }
    expectTargetsEqualSource();
  });

  it('watch sends a top-level name that begins with ".." (it is inside the source)', async () => {
    watcher = await startWatch(farm.configFile);
    fs.writeFileSync(path.join(farm.source, '..hotfix.html'), 'hot');
    await until(
      () => farm.daemons.every((d) => fs.existsSync(path.join(d.dir, '..hotfix.html'))),
      () => `not arrived: ${watcher?.lines.join('\n') ?? ''}`,
    );
    fs.rmSync(path.join(farm.source, '..hotfix.html'));
    await until(
      () => farm.daemons.every((d) => !fs.existsSync(path.join(d.dir, '..hotfix.html'))),
      () => 'not deleted',
    );
  });

  it('a commit with a directory named .~tmp~ (rsync --delay-updates stages files there) is refused with one line, nothing touched', async () => {
    await watcher?.stop();
    watcher = undefined;
    const before = farm.daemons.map((d) => snapshot(d.dir));
    const sourceBefore = snapshot(farm.source);
    const stateBefore = farm.holdings();
    farm.write({ '.~tmp~/page.html': 'staged?', 'other.html': 'other' });
    await farm.commit('tmp dir');
    const push = await farm.push();
    expect(push.stderr).toMatch(/remote: fanout: commit [0-9a-f]{10} names a "\.~tmp~" component .*: "\.~tmp~\/page\.html"; refusing to deploy it, nothing was touched/);
    const deploy = await farm.fanout(['deploy']);
    expect(deploy.exitCode).toBe(2);
    expect(deploy.stderr.trim().split('\n')).toHaveLength(1);
    farm.daemons.forEach((d, i) => {
      expect(snapshot(d.dir), d.name).toEqual(before[i]);
    });
    expect(snapshot(farm.source)).toEqual(sourceBefore);
    // not even recorded as attempted (the refusal is noted beside, for status): later deploys are unaffected
    expect(farm.holdings()).toEqual(stateBefore);
    // the push and the deploy are in the history as refused, each with the line its deployer saw
    expect(farm.history().slice(-2).map((e) => [e.reason, e.targets.length, /names a "\.~tmp~" component/.test(e.refused ?? '')])).toEqual([
      ['push', 0, true],
      ['manual', 0, true],
    ]);

    farm.remove('.~tmp~');
    await farm.commit('no tmp dir');
    await pushOk();
    expectTargetsEqualSource();
    for (const d of farm.daemons) expect(fs.readFileSync(path.join(d.dir, 'other.html'), 'utf8'), d.name).toBe('other');
  });
});
