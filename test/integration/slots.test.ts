import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFarm, type Farm } from '../../harness/farm.js';
import { diffSnapshots, snapshot, snapshotCommit } from '../../harness/tree.js';

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
  for (const name of names) expect(diffSnapshots(expected, snapshot(path.join(dirs()[name] ?? '', 'current', '.'))), name).toEqual([]);
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
});
