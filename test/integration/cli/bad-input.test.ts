import fs from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFarm, type Farm } from '../../../harness/farm.js';
import { snapshot, type Snapshot } from '../../../harness/tree.js';

/**
 * Bad input through the real CLI and the real hook: one line naming what is wrong, exit 2, and
 * nothing on any target touched. (test/unit/config.test.ts covers each rule; this proves the path
 * from the rule to the operator.)
 */

let farm: Farm;
let goodConfig: Record<string, unknown>;
let before: Snapshot[];

beforeAll(async () => {
  farm = await createFarm({ targets: 2, firstHost: 70 });
  farm.write({ 'index.html': 'v1' });
  await farm.commit('v1');
  await farm.push();
  // the next commit is in the repository but not deployed: every refused command would send it
  farm.write({ 'index.html': 'v2', 'new.html': 'new' });
  await farm.commit('v2');
  await farm.pushWithoutDeploy();
  goodConfig = {
    repo: farm.repo,
    branch: 'main',
    source: farm.source,
    targets: farm.daemons.map((d) => ({ name: d.name, dest: d.dest, passwordFile: d.passwordFile })),
  };
  before = farm.daemons.map((d) => snapshot(d.dir));
});

afterAll(async () => {
  await farm.cleanup();
});

function untouched(): void {
  farm.daemons.forEach((d, i) => {
    expect(snapshot(d.dir), d.name).toEqual(before[i]);
  });
}

type Case = [what: string, config: () => string, message: RegExp];

const cases: Case[] = [
  ['malformed YAML', () => 'repo: [unclosed\nsource: x\n', /not valid YAML/],
  ['an unknown key', () => stringify({ ...goodConfig, concurency: 4 }), /unknown field "concurency" \(did you mean "concurrency"\?\)/],
  [
    'a misspelt required key (targts)',
    () => stringify(Object.fromEntries(Object.entries(goodConfig).map(([key, value]) => [key === 'targets' ? 'targts' : key, value]))),
    /: unknown field "targts" \(did you mean "targets"\?\)$/,
  ],
  ['a missing field', () => stringify(Object.fromEntries(Object.entries(goodConfig).filter(([key]) => key !== 'source'))), /source: missing \(required\)/],
  [
    'duplicate target names',
    () => stringify({ ...goodConfig, targets: farm.daemons.map((d) => ({ name: 'web1', dest: d.dest, passwordFile: d.passwordFile })) }),
    /targets\[1\]\.name: duplicate target name "web1"/,
  ],
  ['a dest of no known form', () => stringify({ ...goodConfig, targets: [{ name: 'web1', dest: 'web1:' }] }), /targets\[0\]\.dest: /],
  ['a password file that is missing', () => stringify({ ...goodConfig, targets: [{ name: 'web1', dest: farm.daemons[0]?.dest, passwordFile: '/nonexistent/web1.pwd' }] }), /targets\[0\]\.passwordFile: "\/nonexistent\/web1.pwd" does not exist/],
  ['a password file that is empty', () => stringify({ ...goodConfig, targets: [{ name: 'web1', dest: farm.daemons[0]?.dest, passwordFile: passwordFile('empty.pwd', '', 0o600) }] }), /is empty/],
  ['a password file others can read', () => stringify({ ...goodConfig, targets: [{ name: 'web1', dest: farm.daemons[0]?.dest, passwordFile: passwordFile('open.pwd', 'secret\n', 0o644) }] }), /has mode 644; it must be 600/],
];

function passwordFile(name: string, content: string, mode: number): string {
  const file = path.join(farm.root, name);
  fs.writeFileSync(file, content);
  fs.chmodSync(file, mode);
  return file;
}

describe('bad config: one line, exit 2, nothing touched', () => {
  for (const [what, config, message] of cases) {
    it(`${what}: fanout deploy and the push hook both refuse`, async () => {
      fs.writeFileSync(farm.configFile, config(), { mode: 0o644 });
      try {
        const deploy = await farm.fanout(['deploy']);
        expect(deploy.exitCode).toBe(2);
        const lines = deploy.stderr.trim().split('\n');
        expect(lines).toHaveLength(1);
        expect(lines[0]).toMatch(/^fanout: config .*fanout\.yaml: /);
        expect(lines[0]).toMatch(message);
        // the hook as a push runs it, with post-receive's stdin
        const hook = await farm.fanout(['hook', 'post-receive'], { input: `${'0'.repeat(40)} ${'1'.repeat(40)} refs/heads/main\n` });
        expect(hook.exitCode).toBe(2);
        expect(hook.stderr.trim().split('\n')).toHaveLength(1);
        expect(hook.stderr).toMatch(message);
        untouched();
      } finally {
        farm.writeConfig();
      }
    });
  }
});

describe('the hook command, off its short path', () => {
  // `hook post-receive [--config F] [--json] [--verbose]` skips the command-line parser (src/cli/main.ts);
  // anything else about it goes through the parser, which must refuse it as it refuses any command
  const pushed = `${'0'.repeat(40)} ${'1'.repeat(40)} refs/heads/main\n`;
  for (const [what, args, message] of [
    ['an unknown option', ['hook', 'post-receive', '--colour'], /Unknown argument: colour/],
    ['an unknown hook', ['hook', 'pre-receive'], /Invalid values:.*pre-receive/],
    ['an extra word', ['hook', 'post-receive', 'now'], /Unknown argument: now/],
  ] as const) {
    it(`${what}: one line, exit 2, nothing deployed`, async () => {
      const hook = await farm.fanout([...args], { input: pushed });
      expect(hook.exitCode).toBe(2);
      expect(hook.stderr.trim().split('\n')).toHaveLength(1);
      expect(hook.stderr).toMatch(message);
      untouched();
    });
  }
});

describe('state stays private', () => {
  it('the state directory is 700 and its journal, history, lock and log 600', () => {
    expect(fs.statSync(farm.stateDir).mode & 0o777).toBe(0o700);
    for (const name of ['state.json', 'history.ndjson', 'lock', 'fanout.log']) {
      expect(fs.statSync(path.join(farm.stateDir, name)).mode & 0o777, name).toBe(0o600);
    }
  });
});
