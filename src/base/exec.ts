import fs from 'node:fs';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { spawn, type ChildProcess } from 'node:child_process';
import { execa, type ResultPromise } from 'execa';
import { endedGroup, killGroup, startedGroup, stopLeftoverGroup, type GroupMark } from './groups.js';
import type { Logger } from './log.js';
import { ioCounters, stallTick, StallClock, type IoCounters } from './stall.js';

export interface ExecOptions {
  cwd?: string;
  /** the child's whole environment (default: childEnvironment()); secrets never go here, only file paths */
  env?: NodeJS.ProcessEnv;
  input?: string | Buffer;
  /**
   * stdin written only once this settles, the child started (and connected) before: a switch of
   * `current` waits, connected, for the word to go
   */
  deferredInput?: Promise<string | Buffer>;
  timeoutMs?: number;
  /** an open file descriptor handed to the child as its fd 3 (the lock's `flock 3`) */
  fd3?: number;
  /** stdout line by line as it comes, instead of buffered (a full pass itemizes every file) */
  onLine?: (line: string) => void;
  /** stdout as it comes, before it is cut into lines: what a child writes without ending the line (rsync's `building file list ... `) */
  onOutput?: (chunk: Buffer) => void;
  /** stderr line by line as it comes, instead of buffered (a build's output, streamed to the pusher) */
  onStderrLine?: (line: string) => void;
  /** what ends a line for onLine: a newline, or NUL for `-z` output */
  lineEnd?: '\n' | '\0';
  /**
   * stop the child's whole process group (it runs in one of its own) on timeout, not only the
   * child, and once the child has exited: a build's compilers and servers go with it
   */
  killGroup?: boolean;
  /**
   * stop the child once it has neither read anything nor written more than a keepalive for this
   * long; with deferredInput, counted from when the input is given (waiting for it is no stall)
   */
  stallMs?: number;
  /** told the child's pid once it is started (undefined: it could not be) */
  onSpawn?: (pid: number | undefined) => void;
  /** stdout as a byte string (one character per byte: file names from git), instead of UTF-8 */
  binary?: boolean;
  log: Logger;
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  durationMs: number;
  timedOut: boolean;
  /** the child could not be started at all (ENOENT and the like) */
  spawnError: string | undefined;
  /** stopped by the stallMs watchdog */
  stalled: boolean;
}

/**
 * What a child process inherits, and nothing more. The hook runs with the pusher's environment, and
 * rsync, ssh and flock read much of theirs from it: RSYNC_CONNECT_PROG runs a command instead of
 * connecting, RSYNC_RSH picks the remote shell, RSYNC_OLD_ARGS changes how remote paths are
 * quoted, LD_PRELOAD loads code. Only the names below pass: where programs are, whose home holds
 * ssh's keys and known_hosts (and the agent's socket), and the locale.
 */
const INHERITED = ['PATH', 'HOME', 'USER', 'LOGNAME', 'LANG', 'LC_ALL', 'LC_CTYPE', 'TZ', 'SSH_AUTH_SOCK'];

export function childEnvironment(from: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = { PATH: '/usr/local/bin:/usr/bin:/bin' };
  for (const name of INHERITED) {
    const value = from[name];
    if (value !== undefined) env[name] = value;
  }
  return env;
}

/**
 * The one seam every child process passes through (git, rsync, ssh, flock; inotifywait through
 * startStreaming): argument arrays only (never a shell), the environment above, an explicit
 * timeout, and the exit code returned as data because rsync's 23 and 24 mean something.
 *
 * Started with node's own spawn, not execa: a deploy starts a child per target, and execa's
 * streams and promises around each cost the update server about 6 ms of CPU per child (measured
 * on the 2-core development machine: 12 ms against 6 ms per `true`), more than fanout does for a
 * target besides.
 */
export async function run(command: string, args: readonly string[], options: ExecOptions): Promise<ExecResult> {
  const started = performance.now();
  const child = startChild(command, args, options);
  options.onSpawn?.(child.process.pid);
  const group = child.process.pid === undefined ? undefined : startedGroup(child.process.pid);
  if (options.deferredInput !== undefined) writeWhenSettled(child.process, options.deferredInput);
  const streamed = streamOutput(child.process, options);
  const stall = stallWatchdog(child, command, options);
  const timeout = timeoutWatchdog(child, options);
  let finished;
  try {
    finished = await child.exited;
    timeout.stop();
    stall.stop();
    await streamed;
  } finally {
    if (group !== undefined) await endGroup(group, options.killGroup === true);
  }
  if (finished.error?.code === 'ENOENT') forgetProgram(command);
  return outcome(command, args, options, finished, { durationMs: performance.now() - started, timedOut: timeout.fired, stalled: stall.fired, output: child.output });
}

/** How a child ended: its exit code, or the signal that stopped it, or why it never started. */
interface Ended {
  exitCode: number | undefined;
  signal: NodeJS.Signals | undefined;
  error: (Error & { code?: string }) | undefined;
}

/** A child started by run(): the process, how it ends, and what it wrote (when not streamed). */
interface Child {
  process: ChildProcess;
  exited: Promise<Ended>;
  output: { stdout: Buffer[]; stderr: Buffer[] };
}

function startChild(command: string, args: readonly string[], options: ExecOptions): Child {
  const env = options.env ?? childEnvironment();
  const child = spawn(programPath(command, env), args, {
    // started by its path, named as asked: argv[0] is what it was before
    argv0: command,
    // a directory every user may enter: the one fanout was started in may be one the user it
    // runs as cannot read (sudo -u git from /root), and a child started there fails to start
    cwd: options.cwd ?? '/',
    env,
    stdio: options.fd3 === undefined ? ['pipe', 'pipe', 'pipe'] : ['pipe', 'pipe', 'pipe', options.fd3],
    // Its own process group: a Ctrl-C on a local `git push` signals the pusher's whole group, and
    // a transfer cut off half-way is worse than one that finishes after the pusher has gone.
    detached: true,
  });
  const output = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
  if (options.onLine === undefined) collect(child.stdout, output.stdout);
  if (options.onStderrLine === undefined) collect(child.stderr, output.stderr);
  // the child may exit without reading its input (or never start): that is no error of fanout's
  child.stdin?.on('error', () => undefined);
  if (options.deferredInput === undefined && options.input !== undefined) child.stdin?.end(options.input);
  const exited = new Promise<Ended>((resolve) => {
    child.on('error', (error) => {
      // a spawn failure; an error of kill() on a child that has gone is no end of it
      if (child.pid === undefined) resolve({ exitCode: undefined, signal: undefined, error });
    });
    child.once('close', (code, signal) => {
      resolve({ exitCode: code ?? undefined, signal: signal ?? undefined, error: undefined });
    });
  });
  return { process: child, exited, output };
}

/** What a child writes, kept up to MAX_BUFFER bytes: a runaway output is cut, never held whole. */
const MAX_BUFFER = 64 * 1024 * 1024;

function collect(stream: NodeJS.ReadableStream | null, into: Buffer[]): void {
  let length = 0;
  stream?.on('data', (chunk: Buffer) => {
    if (length >= MAX_BUFFER) return;
    into.push(chunk);
    length += chunk.length;
  });
}

/**
 * Programs by their path, each looked up once along the child's PATH: given a bare name, the
 * child would try every directory of the PATH in turn (an execve that fails per directory before
 * the one that holds it), for every rsync and git a deploy starts. The child's PATH is as it was.
 * A path that stops working (the program removed) is looked up again.
 */
const programs = new Map<string, string>();

function programPath(command: string, env: NodeJS.ProcessEnv): string {
  if (command.includes('/')) return command;
  const key = `${env.PATH ?? ''}\0${command}`;
  let found = programs.get(key);
  if (found === undefined) {
    found = findProgram(command, { PATH: env.PATH ?? '' });
    // a relative directory on the PATH means the child's own working directory: left to it
    if (found === undefined || !path.isAbsolute(found)) return command;
    programs.set(key, found);
  }
  return found;
}

function forgetProgram(command: string): void {
  for (const key of programs.keys()) if (key.endsWith(`\0${command}`)) programs.delete(key);
}

function writeWhenSettled(child: ChildProcess, deferredInput: Promise<string | Buffer>): void {
  // the child may have gone already (timed out waiting): then there is no one to tell
  void deferredInput.then((data) => child.stdin?.end(data));
}

/** stdout and stderr handed on line by line where the caller asked for it; settled once both have ended. */
function streamOutput(child: ChildProcess, options: ExecOptions): Promise<unknown> {
  if (options.onOutput !== undefined) child.stdout?.on('data', options.onOutput);
  return Promise.all([
    options.onLine === undefined ? Promise.resolve() : streamLines(child.stdout, options.onLine, options.lineEnd ?? '\n', options.binary === true ? 'latin1' : 'utf8'),
    options.onStderrLine === undefined ? Promise.resolve() : streamLines(child.stderr, options.onStderrLine, '\n', 'utf8'),
  ]);
}

/** One of fanout's own ways of stopping a child: whether it did, and calling it off once the child has exited. */
interface Watchdog {
  fired: boolean;
  stop: () => void;
}

/** SIGTERM, then SIGKILL 5 s later to a child that has not exited by then. */
function terminate(child: Child): void {
  child.process.kill('SIGTERM');
  const force = setTimeout(() => child.process.kill('SIGKILL'), 5000);
  force.unref();
  void child.exited.then(() => {
    clearTimeout(force);
  });
}

function stallWatchdog(child: Child, command: string, options: ExecOptions): Watchdog {
  const watchdog: Watchdog = { fired: false, stop: () => undefined };
  const { pid } = child.process;
  const { stallMs } = options;
  if (stallMs === undefined || pid === undefined) return watchdog;
  let stopped = false;
  const watch = (): void => {
    if (stopped) return;
    const stopWatching = watchForStall(pid, stallMs, () => {
      watchdog.fired = true;
      options.log.warn({ command, pid, stallMs }, 'no I/O from the child; stopping it');
      terminate(child);
    });
    watchdog.stop = () => {
      stopped = true;
      stopWatching();
    };
  };
  watchdog.stop = () => {
    stopped = true;
  };
  // a child waiting for its input (an armed switch, connected, for as long as staging takes) is
  // idle by design until it is given it
  if (options.deferredInput === undefined) watch();
  else void options.deferredInput.then(watch, watch);
  return watchdog;
}

/**
 * The timeout: SIGTERM to the child, SIGKILL 5 s later. With killGroup, to the child's whole
 * group, and a group that timed out gets SIGKILL again once the child has exited, for whatever it
 * left running.
 */
function timeoutWatchdog(child: Child, options: ExecOptions): Watchdog {
  const watchdog: Watchdog = { fired: false, stop: () => undefined };
  const { pid } = child.process;
  if (options.timeoutMs === undefined || pid === undefined) return watchdog;
  const group = options.killGroup === true;
  const timer = setTimeout(() => {
    watchdog.fired = true;
    if (!group) {
      terminate(child);
      return;
    }
    killGroup(pid, 'SIGTERM');
    setTimeout(() => {
      killGroup(pid, 'SIGKILL');
      // a process that left the group (setsid, a daemon) may still hold the pipes open:
      // fanout stops reading them, or it would wait for that process as long as it lives
      child.process.stdout?.destroy();
      child.process.stderr?.destroy();
    }, 5000).unref();
  }, options.timeoutMs);
  watchdog.stop = () => {
    clearTimeout(timer);
    if (watchdog.fired && group) killGroup(pid, 'SIGKILL');
  };
  return watchdog;
}

async function endGroup(group: GroupMark, stopLeftovers: boolean): Promise<void> {
  try {
    // a command that leaves children behind (a build's server started in the background) does
    // not keep them; its group stays marked until they have gone
    if (stopLeftovers) await stopLeftoverGroup(group);
  } finally {
    endedGroup(group);
  }
}

/** What the caller learns of a finished child, and the log line that records it. */
function outcome(command: string, args: readonly string[], options: ExecOptions, finished: Ended, ended: { durationMs: number; timedOut: boolean; stalled: boolean; output: Child['output'] }): ExecResult {
  const { durationMs, timedOut, stalled, output } = ended;
  const spawnError = finished.error !== undefined ? spawnFailure(command, finished.error) : undefined;
  const exitCode = timedOut ? 124 : (finished.exitCode ?? 128);
  options.log.debug({ command, args, exitCode, durationMs: Math.round(durationMs), timedOut }, 'exec');
  return {
    exitCode,
    stdout: options.onLine === undefined ? Buffer.concat(output.stdout).toString(options.binary === true ? 'latin1' : 'utf8') : '',
    stderr: options.onStderrLine === undefined ? Buffer.concat(output.stderr).toString('utf8') : '',
    durationMs,
    timedOut,
    spawnError,
    stalled,
  };
}

/** A child that runs as long as fanout does, its stdout and stderr read as they come. */
export type StreamingChild = ResultPromise<{ reject: false; buffer: false; stdin: 'ignore'; encoding: 'buffer'; extendEnv: false; cwd: string; env: Record<string, string> }>;

/**
 * A long-running child (inotifywait for watch), with the same environment and working directory
 * as `run`; the caller reads its streams and stops it.
 */
export function startStreaming(command: string, args: readonly string[], log: Logger): StreamingChild {
  const child = execa(command, args, { reject: false, buffer: false, stdin: 'ignore', encoding: 'buffer', extendEnv: false, cwd: '/', env: childEnvironment() });
  log.debug({ command, args, pid: child.pid }, 'exec (streaming)');
  return child;
}

/** The first line a program wrote that says anything, trimmed; '' when it said nothing. */
export function firstLine(text: string): string {
  return text.split('\n').find((l) => l.trim() !== '')?.trim() ?? '';
}

/**
 * Where a program would be found for a child (its PATH as childEnvironment gives it), or undefined:
 * asked before a deploy touches anything, so that a missing rsync is one line, not a checkout and
 * then a failure on every target.
 */
export function findProgram(command: string, env: Record<string, string> = childEnvironment()): string | undefined {
  const candidates = command.includes('/') ? [command] : (env.PATH ?? '').split(':').filter((dir) => dir !== '').map((dir) => path.join(dir, command));
  return candidates.find((file) => {
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return fs.statSync(file).isFile();
    } catch {
      return false;
    }
  });
}

/** Why a program could not be started, by its errno: missing, not allowed, or what the system said. */
export function spawnFailure(command: string, error: { code?: string; shortMessage?: string; message?: string }): string {
  switch (error.code) {
    case 'ENOENT':
      return `cannot start ${command}: not found (is it installed, and on the PATH?)`;
    case 'EACCES':
      return `cannot start ${command}: permission denied (EACCES: it, or the directory it would run in, is not accessible to ${process.getuid?.() === 0 ? 'root' : 'this user'})`;
    default:
      return `cannot start ${command}: ${error.code ?? error.shortMessage ?? error.message ?? 'unknown error'}`;
  }
}

/** Calls onStall once the process has read nothing and written no more than keepalives for stallMs (stall.ts). */
function watchForStall(pid: number, stallMs: number, onStall: () => void): () => void {
  // the baseline is the first tick's read, not one now: a thousand switches given the word at
  // once would each read /proc here, in the moment the farm is meant to change version
  const clock = new StallClock(stallMs, Date.now());
  const timer = setInterval(
    () => {
      const io = readIo(pid);
      if (io === undefined || !clock.sample(io, Date.now())) return;
      clearInterval(timer);
      onStall();
    },
    stallTick(stallMs, { least: 50, most: 1000 }),
  );
  timer.unref();
  return () => {
    clearInterval(timer);
  };
}

function readIo(pid: number): IoCounters | undefined {
  try {
    return ioCounters(fs.readFileSync(`/proc/${pid}/io`, 'utf8'));
  } catch {
    return undefined; // exited, or no /proc: rsync's own --timeout is then the only bound
  }
}

function streamLines(stream: NodeJS.ReadableStream | null, onLine: (line: string) => void, lineEnd: string, encoding: 'utf8' | 'latin1'): Promise<void> {
  if (stream === null) return Promise.resolve();
  const decoder = new StringDecoder(encoding);
  let carry = '';
  stream.on('data', (chunk: Buffer) => {
    const lines = (carry + decoder.write(chunk)).split(lineEnd);
    carry = lines.pop() ?? '';
    for (const line of lines) onLine(line);
  });
  return new Promise((resolve) => {
    const finish = (): void => {
      const rest = carry + decoder.end();
      carry = '';
      if (rest !== '') onLine(rest);
      resolve();
    };
    stream.once('end', finish);
    stream.once('close', finish);
    stream.once('error', finish);
  });
}
