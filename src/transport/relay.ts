import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Relay, Target } from '../base/config.js';
import { firstLine, run, type ExecResult } from '../base/exec.js';
import { killGroup, signalProcess } from '../base/groups.js';
import { FanoutError } from '../base/errors.js';
import type { Logger } from '../base/log.js';
import { announcedRsync, relayWatch, type RelayWatch } from './relay-watch.js';
import { quoteForRsh, remoteCommand, sshFailure, sshRunning, sshWords } from './ssh.js';

// A relay (docs/guides/many-hosts.md): one ssh connection to it, held open as a master (ControlMaster),
// over which every rsync the relay runs for its zone is started. rsync and OpenSSH are the whole
// transport: the relay needs sshd and rsync, nothing of fanout's.

/** How one target's passes go through a relay: ssh to it, and where its release and secrets are. */
export interface RelayHop {
  relay: string;
  /** ssh's argument array up to and including the host: the remote command follows */
  ssh: string[];
  /** the relay's copy of the release: rsync's source there */
  release: string;
  /** one file per daemon target of its zone, the target's password (mode 600) */
  secrets: string;
  /** watches the rsyncs the relay runs, for a target frozen behind it */
  watch: RelayWatch;
}

/** Where a relay keeps the release it passes on, and its zone's passwords. */
export function relayPlaces(relay: Relay): { release: string; secrets: string } {
  return { release: path.posix.join(relay.dest.path, 'release'), secrets: path.posix.join(relay.dest.path, 'secrets') };
}

/** A target as rsync on the relay reaches it: its password file the relay's copy; ssh keys and known hosts the relay's own. */
export function targetFromRelay(target: Target, hop: RelayHop): Target {
  return {
    ...target,
    passwordFile: target.passwordFile === undefined ? undefined : path.posix.join(hop.secrets, target.name),
    ssh: { ...target.ssh, identityFile: undefined, knownHostsFile: undefined, controlPath: undefined },
  };
}

/** The relay itself as ssh names it: its host without brackets, its user given apart. */
function hostWords(relay: Relay): string[] {
  const host = relay.dest.host.replace(/^\[(.*)\]$/, '$1');
  return relay.dest.user === undefined ? [host] : ['-l', relay.dest.user, host];
}

/** An open connection to a relay: every rsync through it rides it; once it is gone, so is the relay. */
export interface RelaySession {
  relay: Relay;
  hop: RelayHop;
  /** ssh options that ride this connection (a tier-one rsync's --rsh) */
  ssh: Relay['ssh'];
  alive(): boolean;
  /** how long the check's session took, `rsync --version` through the master: what every pass through the relay pays to start */
  sessionMs: number;
  /** asks the master whether the connection still stands (after a pass through it failed as ssh fails); false from then on if not */
  check(): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * The master connection to a relay, and a check that rsync runs there. Resolves once both hold,
 * or with the operator's sentence for why the relay cannot be used.
 */
export async function openRelay(relay: Relay, socketDir: string, log: Logger): Promise<RelaySession | { error: string }> {
  const controlPath = controlSocket(socketDir, relay);
  fs.rmSync(controlPath, { force: true });
  const options = { ...relay.ssh, controlPath: undefined };
  let pid: number | undefined;
  const master = ['-o', `ControlPath=${controlPath}`, '-o', 'ControlMaster=yes', '-o', 'ControlPersist=no', '-o', 'ServerAliveInterval=5', '-o', 'ServerAliveCountMax=3', '-N', '-n'];
  const words = sshWords({ ssh: options, timeout: relay.timeout });
  let ended: ExecResult | undefined;
  const running = run(words[0] ?? 'ssh', [...words.slice(1), ...master, ...hostWords(relay)], {
    log,
    onSpawn: (started) => {
      pid = started;
    },
  }).then((r) => {
    ended = r;
    return r;
  });
  // the master answered a check with no connection behind it: the relay is given up for this deploy
  let given = false;
  const deadline = Date.now() + relay.timeout * 1000;
  while (ended === undefined && !fs.existsSync(controlPath) && Date.now() < deadline) await sleep(10);
  const riding = { ...relay.ssh, controlPath };
  const hopSsh = [...sshWords({ ssh: riding, timeout: relay.timeout }), ...hostWords(relay)];
  const hop: RelayHop = { relay: relay.name, ssh: hopSsh, ...relayPlaces(relay), watch: relayWatch(hopSsh, log) };
  const session: RelaySession = {
    relay,
    hop,
    ssh: riding,
    alive: () => ended === undefined && !given,
    sessionMs: 0,
    check: async () => {
      if (ended !== undefined || given) return false;
      const asked = await run(hop.ssh[0] ?? 'ssh', ['-o', `ControlPath=${controlPath}`, '-O', 'check', ...hostWords(relay)], { log, timeoutMs: relay.timeout * 1000 });
      given ||= asked.exitCode !== 0;
      return !given;
    },
    close: async () => {
      if (ended === undefined) await run(hop.ssh[0] ?? 'ssh', ['-o', `ControlPath=${controlPath}`, '-O', 'exit', ...hostWords(relay)], { log, timeoutMs: 5000 });
      // unref'd: a timer left pending would hold the hook's process open for its 5 s after the deploy
      const closed = await Promise.race([running, sleep(5000, undefined, { ref: false }).then(() => undefined)]);
      // a master that will not leave when asked is stopped, with its process group
      if (closed === undefined && pid !== undefined) killGroup(pid, 'SIGKILL');
      await running;
      fs.rmSync(controlPath, { force: true });
    },
  };
  if (ended !== undefined || !fs.existsSync(controlPath)) {
    await session.close();
    return { error: unreachable(relay, ended) };
  }
  const rsync = await rsyncThere(hop, relay, log);
  if ('error' in rsync) {
    await session.close();
    return rsync;
  }
  session.sessionMs = rsync.ms;
  return session;
}

/** `rsync --version` as every pass runs there (through the shell that says its pid and ties rsync to the session): how long it took, or why it failed. */
async function rsyncThere(hop: RelayHop, relay: Relay, log: Logger): Promise<{ ms: number } | { error: string }> {
  const { command, args } = sshRunning(hop.ssh, announcedRsync(['--version']));
  const rsync = await run(command, args, { log, timeoutMs: relay.timeout * 1000 });
  if (rsync.exitCode === 0) return { ms: rsync.durationMs };
  const said = firstLine(rsync.stderr) || `exit ${rsync.exitCode}`;
  if (said.startsWith('setpriv')) return { error: `setpriv there cannot tie rsync to its ssh session (${said}): install util-linux 2.33 or later on the relay` };
  return { error: `rsync does not run there (${said}): install rsync on the relay` };
}

/**
 * Whether the relay's sshd probes a client that has gone silent (its ClientAliveInterval) within
 * `withinSeconds`: a session of its own, direct, that sends nothing while the relay sleeps, and
 * ssh's own debug line for each probe it gets, in a log file of its own (`-E`: the ssh of a
 * ProxyJump writes to stderr, and its bastion's probes are not the relay's). Cut off from the
 * update server, a relay whose sshd never probes keeps its sessions (docs/guides/many-hosts.md).
 */
export async function probesSilentClients(relay: Relay, withinSeconds: number, log: Logger): Promise<boolean> {
  const words = sshWords({ ssh: { ...relay.ssh, controlPath: undefined }, timeout: relay.timeout });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fanout-probe-'));
  const debugLog = path.join(dir, 'ssh.log');
  let pid: number | undefined;
  let probed = false;
  const seen = (): boolean => {
    probed ||= fs.existsSync(debugLog) && fs.readFileSync(debugLog, 'utf8').includes('rtype keepalive@openssh.com');
    return probed;
  };
  // no keepalives of ssh's own (an ssh_config may ask for them): they would reset the server's wait
  const quiet = ['-v', '-E', debugLog, '-o', 'ControlPath=none', '-o', 'ServerAliveInterval=0'];
  const session = run(words[0] ?? 'ssh', [...quiet, ...words.slice(1), ...hostWords(relay), remoteCommand('sleep', [String(withinSeconds)])], {
    log,
    timeoutMs: (withinSeconds + relay.timeout) * 1000,
    onSpawn: (started) => {
      pid = started;
    },
  });
  let ended = false;
  void session.finally(() => (ended = true));
  try {
    while (!ended && !seen()) await sleep(200);
    if (!ended && pid !== undefined) signalProcess(pid, 'SIGTERM');
    await session;
    return seen();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function unreachable(relay: Relay, ended: ExecResult | undefined): string {
  if (ended === undefined) return `ssh did not connect within ${relay.timeout}s`;
  const asTarget = { dest: relay.dest, ssh: relay.ssh };
  return sshFailure(ended, asTarget, 'ssh') ?? `ssh exited ${ended.exitCode}: ${firstLine(ended.stderr) || 'no word from ssh'}`;
}

/**
 * The master's socket: in the directory given (the state directory's ssh/), or, where that path is
 * too long for a socket (108 bytes on Linux), in a directory of this user's own under the temporary directory.
 */
let sockets = 0;

function controlSocket(socketDir: string, relay: Relay): string {
  sockets += 1;
  const name = `${crypto.createHash('sha256').update(relay.name).digest('hex').slice(0, 12)}-${process.pid}-${sockets}`;
  const inState = path.join(socketDir, name);
  if (Buffer.byteLength(inState) < 100) return inState;
  const own = path.join(os.tmpdir(), `fanout-ssh-${process.getuid?.() ?? 'user'}`);
  fs.mkdirSync(own, { recursive: true, mode: 0o700 });
  const stat = fs.lstatSync(own);
  if (!stat.isDirectory() || stat.uid !== process.getuid?.() || (stat.mode & 0o077) !== 0) throw new FanoutError(`${own} is not a private directory of this user's: refusing to put ssh's control socket there`);
  return path.join(own, name);
}

/** rsync to or from a relay, riding its master: how to reach it, and a path there as rsync names it. Names go through rsync's protocol (-s), never the remote shell. */
function overRelay(session: Pick<RelaySession, 'relay' | 'ssh'>): { args: string[]; at: (remotePath: string) => string } {
  const { relay } = session;
  const user = relay.dest.user === undefined ? '' : `${relay.dest.user}@`;
  const rsh = sshWords({ ssh: session.ssh, timeout: relay.timeout }).map(quoteForRsh).join(' ');
  return { args: [`--timeout=${Math.ceil(relay.timeout)}`, '-s', '--rsh', rsh], at: (remotePath) => `${user}${relay.dest.host}:${remotePath}` };
}

/**
 * rsync's arguments for a relay's secrets: the files a scratch directory links to (each daemon
 * target's password file, by the target's name), copied as files only this user may read, and
 * nothing else left there. The passwords travel inside the ssh connection, never on a command line.
 */
export function secretsArgs(scratch: string, session: Pick<RelaySession, 'relay' | 'hop' | 'ssh'>): string[] {
  const relay = overRelay(session);
  return ['--recursive', '--copy-links', '--perms', '--chmod=D700,F600', '--delete', '--mkpath', ...relay.args, '--', scratch.endsWith('/') ? scratch : `${scratch}/`, relay.at(`${session.hop.secrets}/`)];
}

/**
 * Where a relay says which commit its release holds: a file beside the release, written once a
 * feed is complete. The journal alone cannot know that the release is still there: a relay
 * rebuilt at the same address, or its directory cleaned, holds less than the journal says, and a
 * target's pass with --delete from it would delete what it lacks.
 */
export function releaseMarker(relay: Relay): string {
  return path.posix.join(relay.dest.path, 'release-commit');
}

/** rsync's arguments to fetch the relay's release marker into `local`, or to store `local` as it. */
export function markerArgs(session: Pick<RelaySession, 'relay' | 'ssh'>, local: string, direction: 'fetch' | 'store'): string[] {
  const relay = overRelay(session);
  const remote = relay.at(releaseMarker(session.relay));
  return [...relay.args, '--', ...(direction === 'fetch' ? [remote, local] : [local, remote])];
}
