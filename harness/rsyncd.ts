import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa, type ResultPromise } from 'execa';
import { killTree, signalTree } from './processes.js';

/** One module a daemon serves: what a target is, with its own auth user and password file. */
export interface DaemonModule {
  name: string;
  user: string;
  /** the module's directory: what the target serves */
  dir: string;
  passwordFile: string;
  /** rsync://user@address:port/module/ */
  dest: string;
}

/**
 * One real `rsync --daemon` on its own loopback address, with a module (or many), an auth user and
 * a password file for each, and one secrets file. The fields beside `modules` are its first module.
 */
export interface Daemon extends DaemonModule {
  address: string;
  port: number;
  modules: DaemonModule[];
  pid(): number | undefined;
  /** signal the daemon and every process it forked to serve a connection, as a crash or a frozen host would */
  signal(signal: NodeJS.Signals): void;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface ModuleOptions {
  name: string;
  /** default <root>/rsyncd-<daemon>/<module> (the one module of a daemon without `modules`: .../www) */
  dir?: string;
  /** default deploy-<name> */
  user?: string;
}

export interface DaemonOptions {
  /** the N of 127.0.0.N (2..254) */
  hostIndex?: number;
  /** the address instead, anywhere in 127.0.0.0/8 (127.0.1.7: past 254 hosts, in a private network namespace) */
  address?: string;
  root: string;
  /** the daemon's name (its directory under root); its one module's too, unless `modules` names them */
  name: string;
  /** many modules on one daemon, each a target of its own: a lab of a thousand hosts on a few dozen daemons */
  modules?: ModuleOptions[];
  /** extra lines for each module's section */
  moduleLines?: string[];
  /** extra lines for the global section, such as `socket options = TCP_NODELAY` */
  globalLines?: string[];
}

export async function startDaemon(options: DaemonOptions): Promise<Daemon> {
  const daemon = createDaemon(options);
  await daemon.start();
  return daemon;
}

interface ModuleFiles {
  name: string;
  user: string;
  dir: string;
  passwordFile: string;
  password: string;
}

/** Each module's directory, user and password file, made; the secrets file holds every user. */
function writeModules(base: string, modules: ModuleOptions[], single: boolean): { files: ModuleFiles[]; secrets: string } {
  const files = modules.map((m) => {
    const dir = m.dir ?? path.join(base, single ? 'www' : m.name);
    fs.mkdirSync(dir, { recursive: true });
    const password = `pw-${m.name}-${Math.random().toString(36).slice(2)}`;
    const passwordFile = path.join(base, single ? 'client.pwd' : `${m.name}.pwd`);
    fs.writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
    return { name: m.name, user: m.user ?? `deploy-${m.name}`, dir, passwordFile, password };
  });
  const secrets = path.join(base, 'rsyncd.secrets');
  fs.writeFileSync(secrets, files.map((f) => `${f.user}:${f.password}\n`).join(''), { mode: 0o600 });
  return { files, secrets };
}

function writeConfig(base: string, modules: ModuleFiles[], secrets: string, lines: { moduleLines: string[]; globalLines: string[] }): string {
  const configFile = path.join(base, 'rsyncd.conf');
  const section = (m: ModuleFiles): string[] => [
    `[${m.name}]`,
    `  path = ${m.dir}`,
    '  read only = no',
    `  auth users = ${m.user}`,
    `  secrets file = ${secrets}`,
    '  hosts allow = 127.0.0.0/8',
    // use chroot = no turns munge symlinks on by default, which breaks every deployed symlink
    '  munge symlinks = no',
    ...lines.moduleLines.map((l) => `  ${l}`),
  ];
  fs.writeFileSync(
    configFile,
    [
      `pid file = ${path.join(base, 'rsyncd.pid')}`,
      `log file = ${path.join(base, 'rsyncd.log')}`,
      // its own: `max connections` counts in this file, by default /var/run/rsyncd.lock, which
      // every daemon on the machine would share (and one daemon's connections count against another's)
      `lock file = ${path.join(base, 'rsyncd.lock')}`,
      'use chroot = no',
      `uid = ${process.getuid?.() ?? 0}`,
      `gid = ${process.getgid?.() ?? 0}`,
      ...lines.globalLines,
      ...modules.flatMap(section),
      '',
    ].join('\n'),
  );
  return configFile;
}

export function createDaemon({ hostIndex, address: at, root, name, modules, moduleLines = [], globalLines = [] }: DaemonOptions): Daemon {
  if (at === undefined && hostIndex === undefined) throw new Error(`rsync daemon ${name}: give hostIndex or address`);
  const address = at ?? `127.0.0.${hostIndex}`;
  const base = path.join(root, `rsyncd-${name}`);
  fs.mkdirSync(base, { recursive: true });
  const { files, secrets } = writeModules(base, modules ?? [{ name }], modules === undefined);
  const configFile = writeConfig(base, files, secrets, { moduleLines, globalLines });
  let port = 0;
  let child: ResultPromise | undefined;
  const served: DaemonModule[] = files.map((f) => ({
    name: f.name,
    user: f.user,
    dir: f.dir,
    passwordFile: f.passwordFile,
    get dest() {
      return `rsync://${f.user}@${address}:${port}/${f.name}/`;
    },
  }));
  const first = served[0];
  if (first === undefined) throw new Error(`rsync daemon ${name}: no module`);

  const daemon: Daemon = {
    name: first.name,
    address,
    get port() {
      return port;
    },
    user: first.user,
    dir: first.dir,
    passwordFile: first.passwordFile,
    get dest() {
      return first.dest;
    },
    modules: served,
    pid: () => child?.pid,
    signal(signal) {
      const pid = child?.pid;
      if (pid === undefined) return;
      signalTree(pid, signal);
    },
    async start() {
      for (let attempt = 0; attempt < 5; attempt += 1) {
        if (port === 0 || attempt > 0) port = await freePort(address);
        fs.rmSync(path.join(base, 'rsyncd.pid'), { force: true });
        const started = execa('rsync', ['--daemon', '--no-detach', `--config=${configFile}`, `--address=${address}`, `--port=${port}`], {
          reject: false,
          stdio: 'ignore',
        });
        child = started;
        if (await listening(address, port, started)) return;
        await daemon.stop();
      }
      throw new Error(`rsync daemon ${name} did not start on ${address}`);
    },
    async stop() {
      const running = child;
      child = undefined;
      // SIGKILL, not SIGTERM: rsync sleeps 400 ms in its SIGTERM handler before it exits (a kludge
      // for ssh's password prompt), which every farm's cleanup would wait out; the daemon and
      // anything it forked go at once, and the kernel closes its socket
      const pid = running?.pid;
      if (pid !== undefined) await killTree(pid);
      await running;
    },
  };
  return daemon;
}

/** Stop a server the harness started, by its own pid, and wait for it to go; none is no error. */
export async function stopChild(child: ResultPromise | undefined): Promise<void> {
  if (child === undefined) return;
  child.kill('SIGTERM');
  await child;
}

export async function freePort(address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, address, () => {
      const info = server.address();
      const port = typeof info === 'object' && info !== null ? info.port : 0;
      server.close(() => {
        resolve(port);
      });
    });
  });
}

export async function listening(address: string, port: number, child: ResultPromise): Promise<boolean> {
  let exited = false;
  void child.then(() => (exited = true));
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && !exited) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: address, port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => {
        resolve(false);
      });
    });
    if (ok) return true;
    await sleep(20);
  }
  return false;
}
