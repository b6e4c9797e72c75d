import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI } from '../../../harness/farm.js';
import { startSshd, type Sshd } from '../../../harness/sshd.js';
import { diffSnapshots, snapshot, snapshotCommit } from '../../../harness/tree.js';

// The "Quick start on a real farm" of docs/getting-started.md, run as written: every block marked
// `<!-- quickstart:NAME -->` is read out of that page and run, with only these replaced:
// - addresses: the web servers are rsync daemons on 127.0.0.170 and .171 (port 873), the update
//   server's sshd and its own address are 127.0.0.1;
// - the users: `git` and the developer are made here with useradd, under names of their own, and
//   removed after (a machine's real `git` account is never touched);
// - the top of each absolute path (/etc, /srv, /data, /home, /var) goes under a temporary
//   directory per machine; `systemctl enable --now rsync` becomes the daemon started by the test;
//   `sudo -u` becomes `runuser -u` (sudo is not on every machine);
// - `apt-get install` becomes a check that the packages are there; `npm install --global` installs
//   this checkout's package (`npm pack`, of the build `npm test` just made) into a prefix under
//   the temporary directory, whose `fanout` is then on the PATH; the system config it looks for
//   when nothing names one, /etc/fanout/fanout.yaml, is the update server's there.

const ROOT = path.resolve(path.dirname(CLI), '..');
const GUIDE = path.join(ROOT, 'docs', 'getting-started.md');
const asRoot = process.getuid?.() === 0;
const tag = crypto.randomBytes(2).toString('hex');
const GIT = `fqgit${tag}`;
const DEV = `fqdev${tag}`;

function block(name: string): string {
  const text = fs.readFileSync(GUIDE, 'utf8');
  const m = new RegExp(`<!-- quickstart:${name.replace(/\./g, '\\.')} -->\\n\`\`\`\\w*\\n([\\s\\S]*?)\`\`\``).exec(text);
  if (m?.[1] === undefined) throw new Error(`docs/getting-started.md has no quickstart block "${name}"`);
  return m[1];
}

let root: string;
let sshd: Sshd | undefined;
const daemons: ResultPromise[] = [];
let bin: string;
let prefix: string;
let devHome: string;
let site: string;
const machine = (name: string): string => path.join(root, name);

/** The guide's paths on one machine, under its own directory here. */
function localize(text: string, host: string): string {
  return text.replace(/(^|[\s'"=:])\/(etc|srv|data|home|var)\//g, `$1${machine(host)}/$2/`);
}

function forServer(text: string): string {
  return localize(text, 'server')
    .replace(/sudo -u git /g, `runuser -u ${GIT} -- `)
    .replace(/runuser -u git /g, `runuser -u ${GIT} `)
    .replace(/-o git -g git /g, `-o ${GIT} -g ${GIT} `)
    .replace(/ git$/gm, ` ${GIT}`)
    .replace(/192\.168\.9\.226/g, '127.0.0.170')
    .replace(/192\.168\.9\.228/g, '127.0.0.171');
}

/** Run a block of the guide with bash, as root, in `cwd`. */
async function sh(script: string, cwd: string, env: Record<string, string> = {}): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  // stdin from /dev/null: on a socket (node's pipes are socketpairs) a bash at shell level 1
  // believes rshd started it and reads /etc/bash.bashrc, which fails under -u
  const result = await execa('bash', ['-euo', 'pipefail', '-c', script], { cwd, reject: false, stdin: 'ignore', env: { PATH: `${bin}:${process.env.PATH ?? ''}`, ...env } });
  return { exitCode: result.exitCode ?? -1, stdout: result.stdout, stderr: result.stderr };
}

async function startWebServer(n: 1 | 2): Promise<void> {
  const host = `web${n}`;
  const conf = localize(block('web-rsyncd.conf'), host)
    .replace(/\bwww1\b/g, `www${n}`)
    .replace(/\[web1\]/, `[web${n}]`)
    .replace(/192\.168\.9\.10/g, '127.0.0.1');
  fs.writeFileSync(path.join(machine(host), 'etc', 'rsyncd.conf'), conf);
  await startDaemon(n);
}

async function startDaemon(n: 1 | 2): Promise<void> {
  const host = `web${n}`;
  const address = `127.0.0.${169 + n}`;
  const child = execa('rsync', ['--daemon', '--no-detach', `--config=${path.join(machine(host), 'etc', 'rsyncd.conf')}`, `--address=${address}`], { reject: false, stdin: 'ignore' });
  daemons[n - 1] = child;
  // it answers once it listens
  for (let i = 0; i < 100; i += 1) {
    const probe = await execa('rsync', [`rsync://${address}/`], { reject: false, timeout: 2000 });
    if (probe.exitCode === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`the daemon for ${host} did not start`);
}

async function stopDaemon(n: 1 | 2): Promise<void> {
  const child = daemons[n - 1];
  child?.kill('SIGTERM');
  await child;
}

/** The developer's git, over ssh to the update server's git-shell, as the developer user. */
async function dev(args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const key = path.join(devHome, '.ssh', 'id_ed25519');
  const ssh = `ssh -p ${sshd?.port ?? 22} -i ${key} -o IdentitiesOnly=yes -o UserKnownHostsFile=${path.join(devHome, '.ssh', 'known_hosts')} -o BatchMode=yes`;
  const result = await execa('runuser', ['-u', DEV, '--', 'env', `GIT_SSH_COMMAND=${ssh}`, 'GIT_AUTHOR_NAME=Dev', 'GIT_AUTHOR_EMAIL=dev@example.invalid', 'GIT_COMMITTER_NAME=Dev', 'GIT_COMMITTER_EMAIL=dev@example.invalid', 'HOME=' + devHome, 'git', ...args], {
    cwd: site,
    reject: false,
  });
  return { exitCode: result.exitCode ?? -1, stdout: result.stdout, stderr: result.stderr };
}

/** The developer's HEAD (read as the developer: git refuses a repository of another user to root). */
async function head(): Promise<string> {
  return (await dev(['rev-parse', 'HEAD'])).stdout.trim();
}

async function fanoutAsGit(args: string[], cwd = '/root'): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  return sh(`runuser -u ${GIT} -- fanout ${args.join(' ')}`, cwd);
}

async function expectWebServersAt(commit: string, which: (1 | 2)[] = [1, 2]): Promise<void> {
  const expected = await snapshotCommit(path.join(machine('server'), 'srv', 'git', 'site.git'), commit, root);
  for (const n of which) expect(diffSnapshots(expected, snapshot(path.join(machine(`web${n}`), 'data', 'www'))), `web${n}`).toEqual([]);
}

// One story, in the guide's order by design (each step is the reader's next step on the machine
// the last one left), so its cases run in sequence, never shuffled: unlike every other file here.
describe.runIf(asRoot)('the quick start of docs/getting-started.md, followed as written', { shuffle: false }, () => {
  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'fanout-quickstart-'));
    fs.chmodSync(root, 0o755);
    // `fanout` on the PATH: this checkout's build; the system config is the update server's
    bin = path.join(root, 'bin');
    fs.mkdirSync(bin);
    prefix = path.join(machine('server'), 'usr', 'local');
    fs.writeFileSync(path.join(bin, 'fanout'), `#!/bin/sh\n[ -n "$FANOUT_CONFIG" ] || export FANOUT_CONFIG=${machine('server')}/etc/fanout/fanout.yaml\nexec ${prefix}/bin/fanout "$@"\n`, { mode: 0o755 });
    for (const dir of ['etc', 'srv', 'data', 'home']) fs.mkdirSync(path.join(machine('server'), dir), { recursive: true });
    // the package, as `npm pack` makes it (its prepack build is the one `npm test` just ran)
    await execa('npm', ['pack', '--silent', '--ignore-scripts', '--pack-destination', machine('server')], { cwd: ROOT });
    for (const host of ['web1', 'web2']) for (const dir of ['etc', 'data', 'var/run', 'var/log']) fs.mkdirSync(path.join(machine(host), dir), { recursive: true });

    // the developer: an account with an ssh key, and a site to push
    await execa('useradd', ['--create-home', '--shell', '/bin/bash', DEV]);
    devHome = (await execa('getent', ['passwd', DEV])).stdout.split(':')[5] ?? '';
    await execa('runuser', ['-u', DEV, '--', 'ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', path.join(devHome, '.ssh', 'id_ed25519')]);
    site = path.join(devHome, 'site');
    await execa('runuser', ['-u', DEV, '--', 'git', 'init', '-q', '-b', 'main', site]);
  });

  afterAll(async () => {
    for (const n of [1, 2] as const) await stopDaemon(n);
    await sshd?.stop();
    await execa('userdel', ['--remove', DEV], { reject: false });
    await execa('userdel', [GIT], { reject: false });
    if (root !== undefined) fs.rmSync(root, { recursive: true, force: true });
  });

  it('the web servers: rsyncd.conf from the guide, its secrets file and document root', async () => {
    for (const n of [1, 2] as const) {
      const setup = localize(block('web-setup'), `web${n}`)
        .replace(/\bwww1\b/g, `www${n}`)
        .replace(/a-long-random-password/g, n === 1 ? 'a-long-random-password' : 'another-password')
        .replace(/^systemctl .*$/m, '');
      const done = await sh(setup, machine(`web${n}`));
      expect(done.exitCode, done.stderr).toBe(0);
      expect(fs.statSync(path.join(machine(`web${n}`), 'etc', 'rsyncd.secrets')).mode & 0o777).toBe(0o600);
      await startWebServer(n);
    }
    // every comment on a line of its own: the daemon reads the secrets file path whole, and logs
    expect(fs.existsSync(path.join(machine('web1'), 'var', 'log', 'rsyncd.log'))).toBe(true);
    expect(fs.readFileSync(path.join(machine('web1'), 'var', 'log', 'rsyncd.log'), 'utf8')).not.toMatch(/Unknown socket option/);
  });

  it('the update server: fanout from its package, on the PATH, naming its version and commit', async () => {
    const install = forServer(block('server-install'))
      .replace(/^apt-get install -y --no-install-recommends (.*)$/m, 'dpkg-query --show $1 >/dev/null')
      .replace(/npm install --global /g, `npm install --global --prefix ${prefix} --no-audit --no-fund `);
    const done = await sh(install, machine('server'));
    expect(done.exitCode, done.stderr).toBe(0);
    const { version } = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(done.stdout).toMatch(new RegExp(`^fanout ${version.replace(/\./g, '\\.')} \\(commit [0-9a-f]{40}(, modified)?\\)$`, 'm'));
    // the installed package holds the build and no dependency of its own
    expect(fs.existsSync(path.join(prefix, 'lib', 'node_modules', 'fanout', 'dist', 'cli.js'))).toBe(true);
    expect(fs.existsSync(path.join(prefix, 'lib', 'node_modules', 'fanout', 'node_modules'))).toBe(false);
  });

  it('the update server: the git user with git-shell, the directories, the repository, the config', async () => {
    const publicKey = await execa('ssh-keygen', ['-y', '-f', path.join(devHome, '.ssh', 'id_ed25519')]);
    fs.writeFileSync(path.join(machine('server'), 'developer.pub'), `${publicKey.stdout}\n`);
    const user = await sh(forServer(block('server-user')), machine('server'));
    expect(user.exitCode, user.stderr).toBe(0);
    expect((await execa('getent', ['passwd', GIT])).stdout).toMatch(/:\/usr\/bin\/git-shell$/);
    // this test's sshd runs without PAM, and then refuses an account whose password is locked
    // ("!", as useradd leaves it); a stock sshd with PAM takes key logins for such an account
    await execa('usermod', ['--password', '*', GIT]);

    const setup = await sh(forServer(block('server-setup')), machine('server'));
    expect(setup.exitCode, `${setup.stdout}\n${setup.stderr}`).toBe(0);
    // the hook runs the installed package, by absolute path
    const hook = fs.readFileSync(path.join(machine('server'), 'srv', 'git', 'site.git', 'hooks', 'post-receive'), 'utf8');
    expect(hook).toContain(`'${fs.realpathSync(path.join(prefix, 'lib', 'node_modules', 'fanout', 'dist'))}/cli.js'`);
    fs.writeFileSync(path.join(machine('server'), 'fanout.yaml.new'), forServer(block('server-config')));
    await execa('runuser', ['-u', GIT, '--', 'cp', path.join(machine('server'), 'fanout.yaml.new'), path.join(machine('server'), 'etc', 'fanout', 'fanout.yaml')]);
    const check = await sh(forServer(block('server-check')), '/root');
    expect(check.exitCode, `${check.stdout}\n${check.stderr}`).toBe(0);
    expect(check.stdout).not.toMatch(/^problem/m);

    sshd = await startSshd({ hostIndex: 1, root, authorizedKeysFile: '.ssh/authorized_keys' });
    fs.writeFileSync(path.join(devHome, '.ssh', 'known_hosts'), `[127.0.0.1]:${sshd.port} ${sshd.hostKey}\n`);
  });

  it('a push over ssh from the developer deploys to both web servers', async () => {
    fs.writeFileSync(path.join(site, 'index.html'), '<h1>hello</h1>\n');
    await execa('chown', ['-R', `${DEV}:`, site]);
    expect((await dev(['add', '-A'])).exitCode).toBe(0);
    expect((await dev(['commit', '-q', '-m', 'First version of the site'])).exitCode).toBe(0);
    const remote = forServer(block('developer')).split('\n')[0]?.replace('git@192.168.9.10:', `${GIT}@127.0.0.1:`) ?? '';
    expect((await sh(`runuser -u ${DEV} -- ${remote}`, site)).exitCode).toBe(0);
    const push = await dev(['push', 'live', 'main']);
    expect(push.exitCode, push.stderr).toBe(0);
    expect(push.stderr).toMatch(/remote: +web1 +ok /);
    expect(push.stderr).toMatch(/remote: +web2 +ok /);
    const commit = await head();
    await expectWebServersAt(commit);
    // the document root keeps a mode a web server can read
    expect(fs.statSync(path.join(machine('web1'), 'data', 'www')).mode & 0o755).toBe(0o755);
    // status as git, from a directory git cannot read (where a root login lands)
    const status = await fanoutAsGit(['status']);
    expect(status.exitCode, status.stderr).toBe(0);
  });

  it('a web server down: git push still exits 0, status says failed (exit 1); sync catches it up; rollback puts the first version back', async () => {
    const first = await head();
    await stopDaemon(2);
    fs.writeFileSync(path.join(site, 'index.html'), '<h1>hello again</h1>\n');
    expect((await dev(['commit', '-q', '-am', 'Second version'])).exitCode).toBe(0);
    const push = await dev(['push', 'live', 'main']);
    expect(push.exitCode).toBe(0);
    expect(push.stderr).toMatch(/remote: +web2 +failed +cannot connect/);
    const [statusBlock = '', syncBlock = '', rollbackBlock = ''] = forServer(block('operate')).trim().split('\n');
    const status = await sh(statusBlock, '/root');
    expect(status.exitCode).toBe(1);
    expect(status.stdout).toMatch(/web2 +failed/);

    await startDaemon(2);
    const sync = await sh(syncBlock, '/root');
    expect(sync.exitCode, sync.stderr).toBe(0);
    const second = await head();
    await expectWebServersAt(second);
    expect((await sh(statusBlock, '/root')).exitCode).toBe(0);

    const rollback = await sh(rollbackBlock, '/root');
    expect(rollback.exitCode, rollback.stderr).toBe(0);
    await expectWebServersAt(first);
    const history = await fanoutAsGit(['history']);
    expect(history.stdout).toMatch(/ rollback /);
    // without sudo: the same status, through runuser
    const noSudo = await sh(forServer(block('no-sudo')).trim(), '/root');
    expect(noSudo.stderr).toBe('');
    expect(noSudo.exitCode).toBe((await sh(statusBlock, '/root')).exitCode);
    expect(noSudo.stdout).toMatch(/^web1 +ok /m);
    expect(noSudo.stdout).toMatch(/^web2 +ok /m);
  });

  it('the first hour\'s mistakes point at their cause: a directory root made in the source, a journal root rewrote, a pipe closed early, a target down in verify', async () => {
    const source = path.join(machine('server'), 'data', 'www');
    const stateFile = path.join(machine('server'), 'srv', 'git', 'site.git', 'fanout', 'state.json');
    // a hot fix made as root: a new directory git cannot write into
    fs.mkdirSync(path.join(source, 'hotfix'));
    fs.writeFileSync(path.join(source, 'hotfix', 'fix.html'), 'by hand');
    const doctor = await fanoutAsGit(['doctor']);
    expect(doctor.stdout).toMatch(new RegExp(`problem +source +.*/hotfix is not writable by ${GIT} \\(it belongs to root\\).*fix: as root: chown -R ${GIT} `));
    fs.mkdirSync(path.join(site, 'hotfix'), { recursive: true });
    fs.writeFileSync(path.join(site, 'hotfix', 'page.html'), 'from git');
    await execa('chown', ['-R', `${DEV}:`, site]);
    await dev(['add', '-A']);
    await dev(['commit', '-q', '-m', 'hotfix page']);
    const push = await dev(['push', 'live', 'main']);
    expect(push.exitCode).toBe(0);
    expect(push.stderr).toMatch(new RegExp(`remote: fanout: cannot check [0-9a-f]{10} out into .*: .*Permission denied; .*/hotfix belongs to root, not to ${GIT}, who runs fanout: as root, chown -R ${GIT} `));
    const status = await fanoutAsGit(['status']);
    expect(status.exitCode).toBe(1);
    expect(status.stdout).toMatch(/failed: the last deploy could not check its commit out into .*Permission denied/);
    expect((await fanoutAsGit(['history'])).stdout).toMatch(/hotfix|failed/);
    await execa('chown', ['-R', `${GIT}:`, source]);
    expect((await fanoutAsGit(['deploy'])).exitCode).toBe(0);
    expect((await fanoutAsGit(['status'])).exitCode).toBe(0);
    // the hand-made file is no part of any commit: gone, so that the source is the commit again
    fs.rmSync(path.join(source, 'hotfix', 'fix.html'));

    // a journal root rewrote and left unreadable: an error naming it and its owner, never "no state"
    fs.chownSync(stateFile, 0, 0);
    fs.chmodSync(stateFile, 0o600);
    const unreadable = await fanoutAsGit(['status']);
    expect(unreadable.exitCode).toBe(2);
    expect(unreadable.stderr).toMatch(new RegExp(`state\\.json cannot be read \\(EACCES\\) \\(it belongs to root; as root: chown ${GIT} .*state\\.json\\)`));
    await execa('chown', [`${GIT}:`, stateFile]);

    // the reader of a pipe goes away: no EPIPE crash
    const piped = await sh(`runuser -u ${GIT} -- fanout history | head -1`, '/root');
    expect(piped.stderr).toBe('');

    // verify with a web server down suggests catching it up, not a full pass
    await stopDaemon(2);
    try {
      const verify = await fanoutAsGit(['verify']);
      expect(verify.exitCode).toBe(1);
      expect(verify.stdout).toMatch(/once it answers, catch it up with: fanout sync --target web2/);
      expect(verify.stdout).not.toMatch(/sync --full/);
    } finally {
      await startDaemon(2);
    }
  });

  it('staging before production: a push to staging deploys the staging directory only, and promote gives production the same commit', async () => {
    fs.writeFileSync(path.join(machine('server'), 'fanout.yaml.new'), forServer(block('stages-config')));
    await execa('runuser', ['-u', GIT, '--', 'cp', path.join(machine('server'), 'fanout.yaml.new'), path.join(machine('server'), 'etc', 'fanout', 'fanout.yaml')]);
    const setup = await sh(forServer(block('stages-setup')), '/root');
    expect(setup.exitCode, `${setup.stdout}\n${setup.stderr}`).toBe(0);
    const production = await head();
    fs.writeFileSync(path.join(site, 'index.html'), '<h1>staged first</h1>\n');
    await execa('chown', ['-R', `${DEV}:`, site]);
    expect((await dev(['commit', '-q', '-am', 'Staged first'])).exitCode).toBe(0);
    const staged = await head();
    const push = await dev(block('stages-developer').trim().split(' ').slice(1));
    expect(push.exitCode, push.stderr).toBe(0);
    expect(push.stderr).toMatch(/remote: fanout: stage staging: refs\/heads\/staging/);
    const expected = await snapshotCommit(path.join(machine('server'), 'srv', 'git', 'site.git'), staged, root);
    expect(diffSnapshots(expected, snapshot(path.join(machine('server'), 'data', 'staging')))).toEqual([]);
    await expectWebServersAt(production);
    const [status = '', promote = ''] = forServer(block('stages-promote')).trim().split('\n');
    expect((await sh(status, '/root')).exitCode).toBe(0);
    const promoted = await sh(promote, '/root');
    expect(promoted.exitCode, promoted.stderr).toBe(0);
    await expectWebServersAt(staged);
  });
});
