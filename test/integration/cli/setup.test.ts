import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI } from '../../../harness/farm.js';

// scripts/setup run for real by bash, in a copy of the checkout's shape (scripts/setup, a
// package-lock.json): `npm` is a stand-in on the PATH that logs each call (npm ci makes a fresh
// node_modules, as the real one does), and `apt-get` one that fails, so nothing is ever installed.

const SETUP = path.resolve(path.dirname(CLI), '..', 'scripts', 'setup');
let dir: string;
let calls: string;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fanout-setup-'));
  calls = path.join(dir, 'npm-calls');
  fs.mkdirSync(path.join(dir, 'scripts'));
  fs.copyFileSync(SETUP, path.join(dir, 'scripts', 'setup'));
  fs.chmodSync(path.join(dir, 'scripts', 'setup'), 0o755);
  fs.writeFileSync(path.join(dir, 'package-lock.json'), '{"lockfileVersion": 3}\n');
  fs.mkdirSync(path.join(dir, 'bin'));
  fs.writeFileSync(path.join(dir, 'bin', 'npm'), `#!/bin/sh\necho "$*" >> ${calls}\nif [ "$1" = ci ]; then rm -rf node_modules && mkdir node_modules; fi\n`, { mode: 0o755 });
  fs.writeFileSync(path.join(dir, 'bin', 'apt-get'), '#!/bin/sh\necho "apt-get is not run by this test" >&2\nexit 1\n', { mode: 0o755 });
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** scripts/setup run once: what it said, and the npm commands it ran. */
async function setup(): Promise<{ said: string; npm: string[] }> {
  fs.rmSync(calls, { force: true });
  const PATH = `${path.join(dir, 'bin')}:${path.dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin`;
  const result = await execa('bash', [path.join(dir, 'scripts', 'setup')], { cwd: dir, env: { PATH, HOME: dir }, extendEnv: false, stdin: 'ignore', reject: false });
  expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
  const npm = fs.existsSync(calls) ? fs.readFileSync(calls, 'utf8').trim().split('\n') : [];
  return { said: result.stdout, npm };
}

describe('scripts/setup', () => {
  it('runs npm ci when node_modules is missing, skips it while node_modules matches the lockfile, and runs it again when the lockfile changed', async () => {
    const first = await setup();
    expect(first.npm[0]).toMatch(/^ci /);
    expect(first.said).toContain('setup: npm ci');

    const again = await setup();
    expect(again.npm.some((c) => c.startsWith('ci '))).toBe(false);
    expect(again.said).toContain('setup: node_modules matches package-lock.json: npm ci skipped');
    // the build runs every time
    expect(again.npm).toContain('run --silent build');

    fs.appendFileSync(path.join(dir, 'package-lock.json'), '\n');
    const changed = await setup();
    expect(changed.npm[0]).toMatch(/^ci /);

    // a node_modules not made by npm ci (no stamp) is made again
    fs.rmSync(path.join(dir, 'node_modules', '.fanout-setup'));
    expect((await setup()).npm[0]).toMatch(/^ci /);
  });
});
