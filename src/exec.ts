import { execa, type Options } from 'execa';
import type { Logger } from './log.js';

export interface ExecOptions {
  cwd?: string;
  /** replaces the environment for the child; secrets never go here, only file paths */
  env?: NodeJS.ProcessEnv;
  input?: string | Buffer;
  timeoutMs?: number;
  /** an open file descriptor handed to the child as its fd 3 (the lock's `flock 3`) */
  fd3?: number;
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
}

/**
 * The one seam every child process but git passes through: argument arrays only (never a shell),
 * an explicit timeout, and the exit code returned as data because rsync's 23 and 24 mean something.
 */
export async function run(command: string, args: readonly string[], options: ExecOptions): Promise<ExecResult> {
  const started = performance.now();
  const result = await execa(command, args, {
    cwd: options.cwd,
    env: options.env,
    extendEnv: options.env === undefined,
    input: options.input,
    // execa passes a bare descriptor number through to spawn(); its types only list it for fds 0-2
    stdio: options.fd3 === undefined ? undefined : (['pipe', 'pipe', 'pipe', options.fd3] as unknown as Options['stdio']),
    timeout: options.timeoutMs,
    killSignal: 'SIGTERM',
    forceKillAfterDelay: 5000,
    reject: false,
    stripFinalNewline: false,
    maxBuffer: 256 * 1024 * 1024,
  });
  const durationMs = performance.now() - started;
  const spawnError = result.exitCode === undefined && !result.timedOut && result.signal === undefined ? result.shortMessage : undefined;
  const exitCode = result.exitCode ?? (result.timedOut ? 124 : 128);
  options.log.debug({ command, args, exitCode, durationMs: Math.round(durationMs), timedOut: result.timedOut }, 'exec');
  return {
    exitCode,
    stdout: String(result.stdout),
    stderr: String(result.stderr),
    durationMs,
    timedOut: result.timedOut,
    spawnError,
  };
}
