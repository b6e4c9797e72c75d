import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { GIT_IDENTITY, createFarm, type Farm } from '../../../harness/farm.js';
import { startSshd, type Sshd } from '../../../harness/sshd.js';
import { diffSnapshots, snapshot, snapshotCommit } from '../../../harness/tree.js';

let farm: Farm | undefined;
let sshd: Sshd | undefined;
let sshdRoot: string;
/** the first commit, on both targets since the first push; and what that push said */
let first: string;
let firstPush: string;

// What a shell would run if any part of the path ever reached one unquoted: it creates MARK.
const MARK = `PWNED-${crypto.randomBytes(4).toString('hex')}`;
const NASTY = `ssh-www dir with 'quotes' "and" $(touch ${MARK}); touch ${MARK}; \`touch ${MARK}\` & x|y *?[ab] ~`;

beforeAll(async () => {
  sshdRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'fanout-ssh-sshd-'));
  sshd = await startSshd({ hostIndex: 91, root: sshdRoot });
});

afterAll(async () => {
  await sshd?.stop();
  fs.rmSync(sshdRoot, { recursive: true, force: true });
});

// each case has a farm of its own, its first commit pushed to both targets: none depends on another
beforeEach(async () => {
  farm = await createFarm({ targets: 1, firstHost: 95 });
  configure();
  farm.write({ 'index.html': 'v1', 'css/site.css': 'body{}', 'a b/it\'s "here".html': 'odd name', 'bin/run.sh': { content: '#!/bin/sh\n', mode: 0o755 }, 'link': { symlink: 'index.html' } });
  first = await farm.commit('v1');
  firstPush = (await farm.push()).stderr;
});

afterEach(async () => {
  await farm?.cleanup();
  farm = undefined;
});

function the(): { farm: Farm; sshd: Sshd; dir: string } {
  if (farm === undefined || sshd === undefined) throw new Error('setup failed');
  return { farm, sshd, dir: path.join(farm.root, NASTY) };
}

interface SshSettings {
  port?: number;
  identityFile?: string;
  knownHostsFile?: string;
}

/** The farm's daemon target and the ssh target "edge", with these ssh options (default: the working ones). */
function configure(ssh: SshSettings = {}): void {
  const { farm, sshd, dir } = the();
  const daemons = farm.daemons.map((d) => ({ name: d.name, dest: d.dest, passwordFile: d.passwordFile }));
  const edge = { name: 'edge', dest: `${sshd.user}@${sshd.address}:${dir}/`, ssh: { port: sshd.port, identityFile: sshd.identityFile, knownHostsFile: sshd.knownHostsFile, ...ssh } };
  farm.writeConfig({}, [...daemons, edge]);
}

interface StateFile {
  targets: Record<string, { commit: string | null; status: string; attempted: string[] }>;
}

function state(): StateFile {
  return JSON.parse(fs.readFileSync(path.join(the().farm.stateDir, 'state.json'), 'utf8')) as StateFile;
}

async function expectAt(dir: string, commit: string): Promise<void> {
  const { farm } = the();
  expect(diffSnapshots(await snapshotCommit(farm.repo, commit, farm.root), snapshot(dir))).toEqual([]);
}

/** Every file named MARK where an injected command could have run: the farm, the login's home, cwd, /tmp. */
async function injected(): Promise<string> {
  const deep = await execa('find', [the().farm.root, '-name', `${MARK}*`], { reject: false });
  const shallow = await execa('find', [os.homedir(), process.cwd(), os.tmpdir(), '/', '-maxdepth', '1', '-name', `${MARK}*`], { reject: false });
  return `${deep.stdout}${shallow.stdout}`.trim();
}

/** A directory whose name has spaces, both quote characters and an ssh %-token, to hold copies of the client's files. */
function awkwardDir(name: string): string {
  const dir = path.join(the().farm.root, `client files ${name} o'neil "x" 100%h`);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

/** The report lines that name the ssh target. */
function edgeLines(output: string): string[] {
  return output.split('\n').filter((l) => /\bedge\b/.test(l) && !/FAILED: /.test(l));
}

describe('an ssh target on a real sshd', () => {
  it('receives the commit at a path full of shell syntax, then only what changed; nothing is injected', async () => {
    const { farm, dir } = the();
    expect(firstPush).toMatch(/remote: +edge +ok +5 sent/);
    expect(firstPush).toMatch(/remote: +web1 +ok +5 sent/);
    // the path arrived exactly as written, not split or expanded
    expect(fs.existsSync(dir)).toBe(true);
    await expectAt(dir, first);

    farm.write({ 'index.html': 'v2' });
    const c2 = await farm.commit('v2');
    const second = await farm.push();
    expect(second.stderr).toMatch(/remote: +edge +ok +1 sent/);
    await expectAt(dir, c2);
    expect(state().targets.edge).toMatchObject({ commit: c2, status: 'ok' });
    expect(await injected()).toBe('');
  });

  it('keeps the path away from the remote shell even when the environment asks rsync for its old argument handling', async () => {
    const { farm, dir } = the();
    farm.write({ 'index.html': 'v2b' });
    const commit = await farm.commit('v2b');
    // rsync reads RSYNC_OLD_ARGS=1 as --old-args: the remote path would go to the remote shell
    // unescaped. The hook, and so rsync, inherits the pusher's environment.
    const push = await execa('git', ['push', 'origin', 'HEAD:main'], { cwd: farm.clone, env: { ...GIT_IDENTITY, RSYNC_OLD_ARGS: '1' }, reject: false });
    expect(push.stderr).toMatch(/remote: +edge +ok +1 sent/);
    await expectAt(dir, commit);
    expect(await injected()).toBe('');
  });

  it('takes an identity file and a known_hosts file whose paths have spaces and quotes', async () => {
    const { farm, sshd, dir } = the();
    const keys = awkwardDir('keys');
    const identityFile = path.join(keys, 'id key');
    fs.copyFileSync(sshd.identityFile, identityFile);
    fs.chmodSync(identityFile, 0o600);
    const knownHostsFile = path.join(keys, 'known hosts');
    fs.copyFileSync(sshd.knownHostsFile, knownHostsFile);
    configure({ identityFile, knownHostsFile });
    farm.write({ 'css/site.css': 'body{color:red}' });
    const commit = await farm.commit('b');
    const push = await farm.push();
    expect(push.stderr).toMatch(/remote: +edge +ok +1 sent/);
    await expectAt(dir, commit);
    expect(await injected()).toBe('');
  });

  it('refuses in the config a file name ssh would expand as an environment variable', async () => {
    const { farm } = the();
    configure({ identityFile: '/keys/${HOME}/id' });
    const deploy = await farm.fanout(['deploy']);
    expect(deploy.exitCode).toBe(2);
    expect(deploy.stderr).toMatch(/targets\[1\]\.ssh\.identityFile.*"\$\{\.\.\.\}"/);
    configure();
  });

  /** Push one change with a broken ssh setting: the daemon target takes it, edge fails in one line and is left alone. */
  async function failingPush(ssh: SshSettings, file: string): Promise<string> {
    const { farm, dir } = the();
    configure(ssh);
    const before = snapshot(dir);
    farm.write({ [file]: file });
    const commit = await farm.commit(file);
    const push = await farm.push();
    expect(push.stderr).toMatch(/remote: +web1 +ok +1 sent/);
    const daemon = farm.daemons[0];
    if (daemon === undefined) throw new Error('one daemon expected');
    await expectAt(daemon.dir, commit);
    expect(snapshot(dir)).toEqual(before);
    // refused before anything moved: it keeps its commit, with nothing half-sent to repeat later
    expect(state().targets.edge).toMatchObject({ commit: first, status: 'failed', attempted: [] });
    // ssh's own multi-line warnings stay out of the report
    expect(push.stderr).not.toContain('@@@@');
    expect(push.stderr).not.toMatch(/^remote: +(Host key verification failed|rsync: connection unexpectedly closed)/m);
    const again = await farm.fanout(['deploy']);
    expect(again.exitCode).toBe(1);
    const lines = edgeLines(again.stdout);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^ *edge +failed +ssh /);
    return lines[0] ?? '';
  }

  it('refuses a host whose key is not in known_hosts, says how to add it, and writes no key itself', async () => {
    const { sshd } = the();
    const knownHostsFile = path.join(awkwardDir('empty'), 'known_hosts');
    fs.writeFileSync(knownHostsFile, '');
    const line = await failingPush({ knownHostsFile }, 'unknown.html');
    expect(line).toContain(`ssh does not trust ${sshd.hostName}: its host key is not in ${knownHostsFile} (strict host key checking is on)`);
    expect(line).toContain(`ssh-keyscan -p ${sshd.port} ${sshd.address} >> '${knownHostsFile.replace(/'/g, `'"'"'`)}'`);
    // 255 is ssh's exit passed on; 12 when rsync saw the pipe close before it reaped ssh (a race a busy machine loses)
    expect(line).toMatch(/\(rsync exit (255|12): No ED25519 host key is known for /);
    // strict means strict: no accept-new, no hashed line appended behind the operator's back
    expect(fs.readFileSync(knownHostsFile, 'utf8')).toBe('');
  });

  it('refuses a host whose key has changed from the recorded one', async () => {
    const { sshd } = the();
    const other = fs.readFileSync(`${await sshd.newKey('impostor')}.pub`, 'utf8').trim();
    const knownHostsFile = path.join(awkwardDir('changed'), 'known_hosts');
    const recorded = `${sshd.hostName} ${other}\n`;
    fs.writeFileSync(knownHostsFile, recorded);
    const line = await failingPush({ knownHostsFile }, 'changed.html');
    expect(line).toContain(`ssh refused ${sshd.hostName}: its host key has CHANGED from the one in ${knownHostsFile}`);
    expect(line).toContain(`-R '${sshd.hostName}'`);
    expect(line).toMatch(/\(rsync exit (255|12): Host key for .* has changed and you have requested strict checking\.\)$/);
    expect(fs.readFileSync(knownHostsFile, 'utf8')).toBe(recorded);
  });

  it('fails fast with a clear line when the key is not authorized (no password prompt)', async () => {
    const { sshd } = the();
    const stranger = await sshd.newKey('stranger');
    const line = await failingPush({ identityFile: stranger }, 'auth.html');
    expect(line).toContain(`ssh login as ${sshd.user} on ${sshd.address} refused: check that the public half of ${stranger} is in that user's authorized_keys on the host`);
    expect(line).toMatch(/\(rsync exit (255|12): .*Permission denied \(publickey\)\.\)$/);
  });

  it('says when the identity file cannot be read', async () => {
    const missing = path.join(awkwardDir('missing'), 'no such key');
    const line = await failingPush({ identityFile: missing }, 'nokey.html');
    expect(line).toContain(`refused: the identity file ${missing} cannot be read`);
  });

  it('once the config is fixed, is caught up from its own last commit', async () => {
    const { farm, dir } = the();
    await failingPush({ identityFile: path.join(awkwardDir('gone'), 'no such key') }, 'missed.html');
    configure();
    farm.write({ 'index.html': 'v3' });
    const commit = await farm.commit('v3');
    const push = await farm.push();
    // edge missed missed.html: it and this one; web1 only this one
    expect(push.stderr).toMatch(/remote: +edge +ok +2 sent/);
    expect(push.stderr).toMatch(/remote: +web1 +ok +1 sent/);
    await expectAt(dir, commit);
    expect(state().targets.edge).toMatchObject({ commit, status: 'ok', attempted: [] });
    const status = await farm.fanout(['status']);
    expect(status.stdout).toMatch(/edge +.*ok/);
    expect(await injected()).toBe('');
  });

  it('with layout: slots, stages a slot and switches current over ssh; the rollback is a switch', async () => {
    const { farm, sshd, dir } = the();
    const edge = { name: 'edge', dest: `${sshd.user}@${sshd.address}:${dir}/`, ssh: { port: sshd.port, identityFile: sshd.identityFile, knownHostsFile: sshd.knownHostsFile }, layout: 'slots' };
    farm.writeConfig({ slotGrace: 0, shared: ['uploads'] }, [...farm.daemons.map((d) => ({ name: d.name, dest: d.dest, passwordFile: d.passwordFile })), edge]);
    const moved = await farm.fanout(['deploy']);
    expect(moved.exitCode).toBe(0);
    // the files in place seed slot 1 on the host: nothing is sent again
    expect(moved.stdout).toMatch(/edge +ok +0 sent, 0 deleted \(full pass\)/);
    expect(fs.readlinkSync(path.join(dir, 'current'))).toBe('slots/1');
    expect(fs.readlinkSync(path.join(dir, 'slots/1/uploads'))).toBe('../../shared/uploads');
    farm.write({ 'index.html': 'over ssh, in a slot' });
    const commit = await farm.commit('slot');
    const push = await farm.push();
    expect(push.stderr).toMatch(/remote: +edge +ok +\d+ sent/);
    expect(fs.readlinkSync(path.join(dir, 'current'))).toBe('slots/2');
    expect((await farm.fanout(['verify', '--target', 'edge'])).exitCode).toBe(0);
    expect(commit).toBe((await farm.git(['rev-parse', 'HEAD'])).stdout.trim());
    expect(fs.readFileSync(path.join(dir, 'current/index.html'), 'utf8')).toBe('over ssh, in a slot');
    const back = await farm.fanout(['rollback']);
    expect(back.exitCode).toBe(0);
    expect(back.stdout).toMatch(/edge +ok +already up to date/);
    expect(fs.readlinkSync(path.join(dir, 'current'))).toBe('slots/1');
    const doctor = await farm.fanout(['doctor', '--target', 'edge']);
    expect(doctor.stdout).toMatch(/ok +edge current +-> slots\/1/);
    expect(await injected()).toBe('');
  });

  it('deploys builds to a daemon in place, and with slots to a local directory and over ssh; the rollback reuses the build', async () => {
    const { farm, sshd, dir } = the();
    const local = path.join(farm.root, 'local www');
    const edge = { name: 'edge', dest: `${sshd.user}@${sshd.address}:${dir}/`, ssh: { port: sshd.port, identityFile: sshd.identityFile, knownHostsFile: sshd.knownHostsFile }, layout: 'slots' };
    // the operator's build: each top-level page, upper-cased, into out/
    const build = { command: 'mkdir -p out && for f in *.html; do tr a-z A-Z < "$f" > "out/$f"; done', output: 'out' };
    farm.writeConfig({ slotGrace: 0, build }, [...farm.daemons.map((d) => ({ name: d.name, dest: d.dest, passwordFile: d.passwordFile })), { name: 'local', dest: `${local}/`, layout: 'slots' }, edge]);
    const built = await farm.fanout(['deploy']);
    expect(built.exitCode).toBe(0);
    const served = (name: string): string => {
      const root = name === 'web1' ? (farm.daemons[0]?.dir ?? '') : path.join(name === 'local' ? local : dir, 'current');
      return [...snapshot(root).keys()].filter((k) => !k.startsWith('.~tmp~')).sort().map((k) => `${k}=${fs.readFileSync(path.join(root, k), 'utf8')}`).join(' ');
    };
    for (const name of ['web1', 'local', 'edge']) expect(served(name)).toBe('index.html=V1');

    farm.write({ 'index.html': 'v2', 'about.html': 'about' });
    await farm.commit('v2');
    const push = await farm.push();
    for (const name of ['web1', 'local', 'edge']) {
      expect(push.stderr).toMatch(new RegExp(`remote: +${name} +ok +2 sent`));
      expect(served(name)).toBe('about.html=ABOUT index.html=V2');
    }
    expect((await farm.fanout(['verify'])).exitCode).toBe(0);

    const back = await farm.fanout(['rollback']);
    expect(back.exitCode).toBe(0);
    expect(farm.history().at(-1)).toMatchObject({ reason: 'rollback', build: { reused: true } });
    expect(back.stdout).toMatch(/edge +ok +already up to date/);
    for (const name of ['web1', 'local', 'edge']) expect(served(name)).toBe('index.html=V1');
    expect(fs.readlinkSync(path.join(dir, 'current'))).toBe('slots/1');
    expect(await injected()).toBe('');
  });

  it('passes doctor, and doctor names an unknown host key the same way', async () => {
    const { farm, sshd, dir } = the();
    configure();
    const good = await farm.fanout(['doctor', '--target', 'edge']);
    expect(good.stdout).toMatch(/ok +edge reachable and writable/);
    expect(good.stdout).toMatch(/ok +edge symlinks +arrive intact/);
    expect(good.exitCode).toBe(0);
    expect(fs.readdirSync(dir).filter((n) => n.startsWith('.fanout-probe'))).toEqual([]);

    const knownHostsFile = path.join(awkwardDir('doctor'), 'known_hosts');
    fs.writeFileSync(knownHostsFile, '');
    configure({ knownHostsFile });
    const bad = await farm.fanout(['doctor', '--target', 'edge']);
    expect(bad.exitCode).toBe(1);
    expect(bad.stdout).toMatch(new RegExp(`problem +edge reachable and writable +ssh does not trust \\[${sshd.address.replace(/\./g, '\\.')}\\]:${sshd.port}: its host key is not in`));
    expect(await injected()).toBe('');
  });
});
