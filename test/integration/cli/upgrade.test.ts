import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { CLI, GIT_IDENTITY } from '../../../harness/farm.js';
import { diffSnapshots, snapshot, snapshotCommit } from '../../../harness/tree.js';

// An upgrade: a single-farm config and the state directory the fanout before stages, the deploy
// lock and push modes wrote (test/fixtures/upgrade-0.1-state), taken over by today's fanout
// unchanged. The commits are made as the fixture's were (fixed dates and identity), so they are
// the very commits its journal names.

const FIXTURE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../fixtures/upgrade-0.1-state');
const FIRST = 'a120a4ecdf022a3c3489d4ed96caeaefd877d578';
const SECOND = '48c650356398fe30ae54d3260605077bdbe12719';

let root: string;
let configFile: string;
const fanout = (args: string[]) => execa(process.execPath, [CLI, '--config', configFile, ...args], { reject: false });
const git = (args: string[], date?: string) =>
  execa('git', args, { cwd: path.join(root, 'clone'), env: { ...GIT_IDENTITY, ...(date === undefined ? {} : { GIT_AUTHOR_DATE: date, GIT_COMMITTER_DATE: date }) }, reject: false });

beforeEach(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'fanout-upgrade-'));
  configFile = path.join(root, 'fanout.yaml');
  for (const dir of ['www', 'web1', 'web2']) fs.mkdirSync(path.join(root, dir));
  // the config as it was written for the fanout before: nothing in it changes
  fs.writeFileSync(configFile, stringify({ repo: path.join(root, 'site.git'), branch: 'main', source: path.join(root, 'www'), targets: [{ name: 'web1', dest: path.join(root, 'web1') }, { name: 'web2', dest: path.join(root, 'web2') }], retries: 0 }));
  expect((await fanout(['init'])).exitCode).toBe(0);
  // the same two commits, in the repository without deploying them (the old fanout did that)
  const hook = path.join(root, 'site.git', 'hooks', 'post-receive');
  fs.renameSync(hook, `${hook}.off`);
  await execa('git', ['clone', '-q', path.join(root, 'site.git'), path.join(root, 'clone')]);
  await git(['checkout', '-q', '-b', 'main']);
  fs.mkdirSync(path.join(root, 'clone', 'css'));
  fs.writeFileSync(path.join(root, 'clone', 'index.html'), '<h1>v1</h1>\n');
  fs.writeFileSync(path.join(root, 'clone', 'css', 'site.css'), 'body{}\n');
  fs.writeFileSync(path.join(root, 'clone', 'about.html'), 'about\n');
  await git(['add', '-A']);
  await git(['commit', '-qm', 'first'], '2026-01-01T10:00:00Z');
  fs.writeFileSync(path.join(root, 'clone', 'index.html'), '<h1>v2</h1>\n');
  await git(['rm', '-q', 'about.html']);
  await git(['add', '-A']);
  await git(['commit', '-qm', 'second'], '2026-01-02T10:00:00Z');
  expect((await git(['log', '--format=%H'])).stdout.split('\n')).toEqual([SECOND, FIRST]);
  expect((await git(['push', '-q', 'origin', 'HEAD:main'])).exitCode).toBe(0);
  fs.renameSync(`${hook}.off`, hook);
  // what the old fanout left: the second commit in the source and on both targets, and its journal
  for (const dir of ['www', 'web1', 'web2']) await execa('sh', ['-c', `git --git-dir='${path.join(root, 'site.git')}' archive ${SECOND} | tar -x -C '${path.join(root, dir)}'`]);
  for (const file of ['state.json', 'history.ndjson']) fs.copyFileSync(path.join(FIXTURE, file), path.join(root, 'site.git', 'fanout', file));
});

afterEach(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

describe('upgrading fanout', () => {
  it("takes over the old state directory as it is: status, verify and history read it, the next push deploys only what changed, rollback goes back", async () => {
    const status = await fanout(['status']);
    expect(status.exitCode, status.stdout + status.stderr).toBe(0);
    expect(status.stdout).toMatch(/^web1 +ok +48c6503563 +second/m);
    expect((await fanout(['verify'])).exitCode).toBe(0);
    const history = await fanout(['history']);
    expect(history.stdout).toMatch(/^2 .* 48c6503563 +push/m);
    expect(history.stdout).toMatch(/^1 .* a120a4ecdf +push/m);

    fs.writeFileSync(path.join(root, 'clone', 'index.html'), '<h1>v3</h1>\n');
    await git(['commit', '-qam', 'third']);
    const pushed = await git(['push', 'origin', 'HEAD:main']);
    expect(pushed.exitCode).toBe(0);
    // from the commit the old journal says each target has: the one changed file, no full pass
    expect(pushed.stderr).toMatch(/remote: {3}web1 {2}ok {6}1 sent \(\d+ B\), 0 deleted {2}/);
    const third = (await git(['rev-parse', 'HEAD'])).stdout.trim();
    for (const web of ['web1', 'web2']) expect(diffSnapshots(await snapshotCommit(path.join(root, 'site.git'), third, root), snapshot(path.join(root, web)))).toEqual([]);

    const rollback = await fanout(['rollback']);
    expect(rollback.exitCode, rollback.stderr).toBe(0);
    for (const web of ['web1', 'web2']) expect(diffSnapshots(await snapshotCommit(path.join(root, 'site.git'), SECOND, root), snapshot(path.join(root, web)))).toEqual([]);
    const state = JSON.parse(fs.readFileSync(path.join(root, 'site.git', 'fanout', 'state.json'), 'utf8')) as { version: number; nextDeployId: number };
    expect(state).toMatchObject({ version: 1, nextDeployId: 5 });
  });
});
