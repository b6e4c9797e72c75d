import fs from 'node:fs';
import type { Build } from '../base/config.js';
import { childEnvironment, run, type ExecResult } from '../base/exec.js';
import type { Commit } from '../base/git.js';
import { openOwnFile } from '../base/trust.js';
import type { Context } from '../engine/context.js';
import type { BuildPlaces } from './worktree.js';

// The operator's build command (build.command): what it runs with, how it runs in the worktree
// with every line it says logged and shown to the pusher, and how it failed.

/**
 * What the build command runs with: where programs are, the home its tools keep their caches in,
 * the locale, and `build.env`. Never the ssh agent of an operator who deploys by hand: the build
 * runs code from the commit.
 */
export function buildEnvironment(build: Pick<Build, 'env'>, from: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const inherited = childEnvironment(from);
  delete inherited.SSH_AUTH_SOCK;
  return { ...inherited, ...build.env };
}

/** The build command as the operator wrote it, for the pusher and the build commit's message. */
export function commandText(build: Pick<Build, 'command'>): string {
  return typeof build.command === 'string' ? build.command : build.command.join(' ');
}

/** Runs the build command in the worktree, every line of its output to its log and the pusher. */
export async function runBuildCommand(ctx: Context, build: Build, source: Commit, places: BuildPlaces): Promise<{ result: ExecResult; lines: string[] }> {
  const lines: string[] = [];
  const logFd = openOwnFile(places.logFile, 'write');
  const said = (line: string): void => {
    lines.push(line);
    fs.writeSync(logFd, `${line}\n`);
    ctx.reporter.buildLine(line);
  };
  const [program, args] = typeof build.command === 'string' ? ['sh', ['-c', build.command]] : [build.command[0] ?? '', build.command.slice(1)];
  ctx.reporter.note(`build of ${source.slice(0, 10)}: ${commandText(build)}`);
  try {
    // its whole process group goes at the timeout, and with the command: a server it started in
    // the background does not stay (one whose fanout died is stopped by the lock's next holder)
    const result = await run(program, args, { cwd: places.tree, env: buildEnvironment(build), timeoutMs: build.timeoutMs, killGroup: true, log: ctx.log, onLine: said, onStderrLine: said });
    return { result, lines };
  } finally {
    fs.closeSync(logFd);
  }
}

/** Why the build command failed, if it did: it could not start, ran out of time, or exited non-zero. */
export function commandFailure(build: Pick<Build, 'timeoutMs'>, result: Pick<ExecResult, 'spawnError' | 'timedOut' | 'exitCode'>): string | undefined {
  return (
    result.spawnError ??
    (result.timedOut ? `it did not finish within ${build.timeoutMs / 1000}s (build.timeout)` : result.exitCode !== 0 ? `exit ${result.exitCode}` : undefined)
  );
}
