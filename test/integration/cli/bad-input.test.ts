import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, createFarm, type Farm, type Ran } from '../../../harness/farm.js';
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
    ['an unknown hook', ['hook', 'update'], /Invalid values:.*update/],
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

/** The built CLI as an operator types it: no --config unless given, from `cwd`, as `uid` (root when not given). */
async function typed(args: string[], options: { env?: Record<string, string>; cwd?: string; uid?: number; gid?: number } = {}): Promise<Ran> {
  const { env = {}, cwd = '/', uid, gid } = options;
  const result = await execa(process.execPath, [CLI, ...args], { env: { FANOUT_CONFIG: '', ...env }, cwd, reject: false, ...(uid === undefined ? {} : { uid, gid }) });
  return { exitCode: result.exitCode ?? -1, stdout: result.stdout, stderr: result.stderr };
}

function oneLine(result: Ran): string {
  expect(result.exitCode, result.stderr).toBe(2);
  const lines = result.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  return lines[0] ?? '';
}

const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe.runIf(!fs.existsSync('/etc/fanout/fanout.yaml'))('no config: every place looked at, in order', () => {
  it('names --config, $FANOUT_CONFIG, ./fanout.yaml and /etc/fanout/fanout.yaml, and what sudo does to FANOUT_CONFIG', async () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'fanout-noconfig-'));
    try {
      const line = oneLine(await typed(['status'], { cwd: empty }));
      expect(line).toBe(
        `fanout: no config found; looked at, in order: --config (not given), $FANOUT_CONFIG (not set), ${path.join(empty, 'fanout.yaml')}, /etc/fanout/fanout.yaml; ` +
          'name one with --config FILE (sudo drops FANOUT_CONFIG: pass --config, or sudo --preserve-env=FANOUT_CONFIG), or create one with "fanout init"',
      );
      const named = oneLine(await typed(['status'], { cwd: empty, env: { FANOUT_CONFIG: path.join(empty, 'gone.yaml') } }));
      expect(named).toMatch(new RegExp(`^fanout: config ${escape(path.join(empty, 'gone.yaml'))} \\(named by \\$FANOUT_CONFIG\\) does not exist: create one with "fanout init"`));
    } finally {
      fs.rmSync(empty, { recursive: true, force: true });
    }
  });
});

describe.runIf(process.getuid?.() === 0)("another account's config and password files: the owner and the command that fixes it (a user made here with useradd, removed after; nobody runs as the third account)", () => {
  const other = `fanout-e${process.pid % 100000}`;
  const nobody = { uid: 65534, gid: 65534 };
  let otherUid: number;
  let shared: string;

  beforeAll(async () => {
    await execa('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', other]);
    otherUid = Number((await execa('id', ['-u', other])).stdout.trim());
    // a directory every account may enter, root's and written by root only, as /etc/fanout is
    shared = fs.mkdtempSync(path.join(os.tmpdir(), 'fanout-shared-'));
    fs.chmodSync(shared, 0o755);
  });

  afterAll(async () => {
    fs.rmSync(shared, { recursive: true, force: true });
    await execa('userdel', [other], { reject: false });
  });

  /** The farm's config with the first target's password file replaced, written to `file` as root, mode 644. */
  function configWith(file: string, passwordFile?: string): string {
    const targets = farm.daemons.map((d, i) => ({ name: d.name, dest: d.dest, passwordFile: i === 0 && passwordFile !== undefined ? passwordFile : d.passwordFile }));
    fs.writeFileSync(file, stringify({ ...goodConfig, targets }), { mode: 0o644 });
    return file;
  }

  it('root over the account\'s config (found through $FANOUT_CONFIG): sudo -u OWNER, with --config since sudo drops the variable', async () => {
    const config = configWith(path.join(shared, 'theirs.yaml'));
    fs.chownSync(config, otherUid, otherUid);
    const line = oneLine(await typed(['status'], { env: { FANOUT_CONFIG: config } }));
    expect(line).toBe(
      `fanout: config ${config}: ${config} belongs to ${other}, not to root; refusing to use it (whoever can write it decides what fanout runs); run fanout as its owner instead: sudo -u ${other} fanout status --config ${config}`,
    );
    untouched();
  });

  it('a user who may not enter the directory the config is in: not "create one", but whose it is and the sudo', async () => {
    const dir = path.join(shared, 'private');
    fs.mkdirSync(dir, { mode: 0o700 });
    const config = configWith(path.join(dir, 'fanout.yaml'));
    fs.chownSync(dir, otherUid, otherUid);
    fs.chownSync(config, otherUid, otherUid);
    const line = oneLine(await typed(['status', '--config', config], nobody));
    expect(line).toBe(`fanout: config ${config} cannot be reached: nobody may not enter ${dir} (it belongs to ${other}, mode 700); run fanout as its owner: sudo -u ${other} fanout status --config ${config}`);
  });

  it("a user who cannot read root's config: it exists, whose it is, and the chown", async () => {
    const config = configWith(path.join(shared, 'roots.yaml'));
    fs.chmodSync(config, 0o600);
    const line = oneLine(await typed(['status', '--config', config], nobody));
    expect(line).toBe(`fanout: config ${config} exists, but nobody cannot read it (it belongs to root, mode 600); as root: chown nobody ${config}`);
  });

  it('a password file of another account: its owner and the chown, as root and as another user', async () => {
    const pwd = path.join(shared, 'web1.pwd');
    fs.writeFileSync(pwd, 'secret\n', { mode: 0o600 });
    const config = configWith(path.join(shared, 'pwd.yaml'), pwd);
    try {
      fs.chownSync(pwd, otherUid, otherUid);
      const asRoot = oneLine(await typed(['status', '--config', config]));
      expect(asRoot).toMatch(new RegExp(`targets\\[0\\]\\.passwordFile: ${escape(pwd)} belongs to ${other}, and rsync refuses a password file not owned by root when it runs as root: chown root ${escape(pwd)}$`));
      const asNobody = oneLine(await typed(['status', '--config', config], nobody));
      expect(asNobody).toMatch(new RegExp(`targets\\[0\\]\\.passwordFile: ${escape(pwd)} belongs to ${other}, not to nobody or root; refusing to use it: as root, chown nobody ${escape(pwd)}$`));
      fs.chownSync(pwd, 0, 0);
      const rootsPwd = oneLine(await typed(['status', '--config', config], nobody));
      expect(rootsPwd).toMatch(new RegExp(`targets\\[0\\]\\.passwordFile: ${escape(pwd)} belongs to root \\(mode 600\\), so nobody, who runs fanout, cannot read it: as root, chown nobody ${escape(pwd)}$`));
    } finally {
      fs.rmSync(pwd, { force: true });
    }
    untouched();
  });
});
