import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa, execaSync, type ResultPromise } from 'execa';
import { killTree } from './processes.js';
import { freePort, stopChild } from './rsyncd.js';

/**
 * One real sshd on its own loopback address and port, with a throwaway host key, a throwaway user
 * key in its AuthorizedKeysFile, and a known_hosts file for the client that trusts its host key.
 */
export interface Sshd {
  address: string;
  port: number;
  /** who the client logs in as: root when the tests run as root, else the current user */
  user: string;
  /** the server's files (config, host key, authorized_keys, log) */
  dir: string;
  /** the host key's public half, "ssh-ed25519 AAAA... comment" */
  hostKey: string;
  /** a private key whose public half is in authorized_keys */
  identityFile: string;
  /** holds `[address]:port <host key>` and nothing else */
  knownHostsFile: string;
  /** `[address]:port`, as ssh names the host in known_hosts and in its messages */
  hostName: string;
  /** a fresh ed25519 key pair in `dir`; returns the private key's path */
  newKey(name: string): Promise<string>;
  pid(): number | undefined;
  stop(): Promise<void>;
  /** the host dies: sshd and every session it started (and what they run) killed at once */
  crash(): Promise<void>;
}

export interface SshdOptions {
  /** the N of 127.0.0.N; ssh tests use 90..99 */
  hostIndex?: number;
  /** the address instead, anywhere in 127.0.0.0/8 (a relay of the scale lab: 127.0.2.N) */
  address?: string;
  root: string;
  /** sshd's AuthorizedKeysFile, as it reads it (`.ssh/authorized_keys`: each user's own); default one file of the test's */
  authorizedKeysFile?: string;
  /** more sshd_config lines (`PermitUserEnvironment FANOUT_USER`) */
  extraConfig?: string[];
  /**
   * sessions start the user's shell without its ~/.bashrc: sshd runs in a mount namespace of its
   * own where that file is an empty one (root only; elsewhere ignored). Every ssh session starts
   * the user's shell, and bash sources ~/.bashrc when sshd starts it: on the development machine
   * root's loads pyenv, half a second that each pass through a relay of the scale lab would pay,
   * where a relay's deploy user has nothing of the kind.
   */
  lightShell?: boolean;
}

const SSHD = '/usr/sbin/sshd';

export async function startSshd({ hostIndex, address: at, root, authorizedKeysFile, extraConfig = [], lightShell = false }: SshdOptions): Promise<Sshd> {
  if (at === undefined && hostIndex === undefined) throw new Error('sshd: give hostIndex or address');
  const address = at ?? `127.0.0.${hostIndex}`;
  const dir = fs.mkdtempSync(path.join(root, 'sshd-'));
  const user = process.getuid?.() === 0 ? 'root' : os.userInfo().username;
  // sshd refuses to start without its privilege-separation directory
  if (process.getuid?.() === 0) fs.mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });

  const newKey = async (name: string): Promise<string> => {
    const file = path.join(dir, name);
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `fanout-test-${name}`, '-f', file]);
    return file;
  };
  const hostKeyFile = await newKey('host_key');
  const identityFile = await newKey('user_key');
  const hostKey = fs.readFileSync(`${hostKeyFile}.pub`, 'utf8').trim();
  const authorizedKeys = path.join(dir, 'authorized_keys');
  fs.copyFileSync(`${identityFile}.pub`, authorizedKeys);
  const knownHostsFile = path.join(dir, 'known_hosts');
  const configFile = path.join(dir, 'sshd_config');
  const logFile = path.join(dir, 'sshd.log');

  let port = 0;
  let child: ResultPromise | undefined;

  const writeConfig = (): void => {
    fs.writeFileSync(
      configFile,
      [
        `ListenAddress ${address}:${port}`,
        `HostKey ${hostKeyFile}`,
        `AuthorizedKeysFile ${authorizedKeysFile ?? authorizedKeys}`,
        `PidFile ${path.join(dir, 'sshd.pid')}`,
        // the temp dir's modes are whatever mkdtemp and the umask gave; not what this test is about
        'StrictModes no',
        'UsePAM no',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'PermitRootLogin prohibit-password',
        'LogLevel VERBOSE',
        ...extraConfig,
        '',
      ].join('\n'),
    );
    fs.writeFileSync(knownHostsFile, `[${address}]:${port} ${hostKey}\n`);
  };

  const sshd: Sshd = {
    address,
    get port() {
      return port;
    },
    user,
    dir,
    hostKey,
    identityFile,
    knownHostsFile,
    get hostName() {
      return `[${address}]:${port}`;
    },
    newKey,
    pid: () => child?.pid,
    async stop() {
      const running = child;
      child = undefined;
      await stopChild(running);
    },
    async crash() {
      const running = child;
      child = undefined;
      if (running?.pid === undefined) return;
      await killTree(running.pid);
      await running;
    },
  };

  for (let attempt = 0; attempt < 5; attempt += 1) {
    port = await freePort(address);
    writeConfig();
    // -D: stay in the foreground, so the pid is sshd's own and SIGTERM stops it; -e: log to stderr
    const [command = SSHD, ...args] = withoutShellRc(lightShell, dir, [SSHD, '-D', '-e', '-f', configFile]);
    child = execa(command, args, { reject: false, stdin: 'ignore', stdout: 'ignore', stderr: { file: logFile, append: true } });
    if (await answers(address, port, child)) return sshd;
    await sshd.stop();
  }
  throw new Error(`sshd did not start on ${address}: ${fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : 'no log'}`);
}

/** The command that starts sshd, under `unshare -m` with ~/.bashrc hidden when asked (and possible); it execs sshd, so the pid is sshd's. */
function withoutShellRc(lightShell: boolean, dir: string, sshd: string[]): string[] {
  const rc = path.join(os.homedir(), '.bashrc');
  if (!lightShell || process.getuid?.() !== 0 || !fs.existsSync(rc) || !mountNamespaces()) return sshd;
  const empty = path.join(dir, 'empty-bashrc');
  fs.writeFileSync(empty, '');
  // a bind mount refused (a container's seccomp, say) leaves the shell as it is: sshd starts anyway
  return ['unshare', '-m', '--', 'sh', '-c', 'mount --bind "$1" "$2" 2>/dev/null; shift 2; exec "$@"', 'sh', empty, rc, ...sshd];
}

let canUnshareMount: boolean | undefined;

/** Whether this process may make a mount namespace (`unshare -m`), asked once. */
function mountNamespaces(): boolean {
  canUnshareMount ??= execaSync('unshare', ['-m', 'true'], { reject: false }).exitCode === 0;
  return canUnshareMount;
}

/** True once the server at address:port sends an SSH banner; false if the process exits or 10 s pass. */
async function answers(address: string, port: number, child: ResultPromise): Promise<boolean> {
  let exited = false;
  void child.then(() => (exited = true));
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && !exited) {
    const banner = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: address, port });
      socket.setTimeout(2000, () => {
        socket.destroy();
        resolve(false);
      });
      socket.once('data', (data: Buffer) => {
        socket.destroy();
        resolve(data.toString('latin1').startsWith('SSH-'));
      });
      socket.once('error', () => {
        resolve(false);
      });
    });
    if (banner) return true;
    await sleep(20);
  }
  return false;
}
