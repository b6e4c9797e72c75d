import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { stringify } from 'yaml';
import type { HistoryEntry } from '../src/engine/journal.js';
import { startDaemon, type Daemon } from './rsyncd.js';

export const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../dist/cli.js');

/** What a finished command left: text output whatever execa's options were. */
export interface Ran {
  exitCode: number;
  stdout: string;
  stderr: string;
}

async function ran(command: string, args: string[], options: { cwd?: string; input?: string; env?: Record<string, string> }): Promise<Ran> {
  const result = await execa(command, args, { ...options, reject: false, input: options.input ?? '' });
  return { exitCode: result.exitCode ?? -1, stdout: result.stdout, stderr: result.stderr };
}

/** A line of the progress a deploy shows in a pipe (engine/progress.ts): a phase begun, or its 2 s beat. */
export const PROGRESS_LINE = /^(waiting for the lock|build|plan|checkout|relays|preflight|transfer|staging|switch|checks|hook|dry run|canary|batch \d+\/\d+): /;

/** What a command wrote to stderr besides its progress: its warnings and errors. */
export function withoutProgress(stderr: string): string {
  return stderr
    .split('\n')
    .filter((line) => !PROGRESS_LINE.test(line))
    .join('\n');
}

/** Commits need an author; a test or the demo must not depend on the user's git config having one. */
export const GIT_IDENTITY = { GIT_AUTHOR_NAME: 'Test', GIT_AUTHOR_EMAIL: 't@example.invalid', GIT_COMMITTER_NAME: 'Test', GIT_COMMITTER_EMAIL: 't@example.invalid' };

export type FileSpec = string | { content: string; mode?: number } | { symlink: string };

/** A scratch update server: bare repo with fanout's hook, a clone to push from, real rsync daemons. */
export interface Farm {
  root: string;
  repo: string;
  source: string;
  stateDir: string;
  configFile: string;
  clone: string;
  daemons: Daemon[];
  fanout(args: string[], options?: { input?: string; env?: Record<string, string> }): Promise<Ran>;
  git(args: string[]): Promise<Ran>;
  write(files: Record<string, FileSpec>): void;
  remove(...paths: string[]): void;
  /** commit everything in the clone; returns the new commit */
  commit(message: string): Promise<string>;
  push(args?: string[]): Promise<Ran>;
  /** push with the hook moved aside: the commit reaches the repository and nothing is deployed */
  pushWithoutDeploy(args?: string[]): Promise<Ran>;
  /** the deploy history, oldest first */
  history(): HistoryEntry[];
  /** what the journal holds of the source and the targets: a refusal notes itself beside them, and changes none of it */
  holdings(): unknown;
  writeConfig(extra?: Record<string, unknown>, targets?: Record<string, unknown>[]): void;
  cleanup(): Promise<void>;
}

export interface FarmOptions {
  targets?: number;
  /** first loopback host index; daemons take 127.0.0.N, N+1, ... */
  firstHost?: number;
  config?: Record<string, unknown>;
  /** extra lines for the global section of every daemon's rsyncd.conf */
  daemonGlobalLines?: string[];
}

export async function createFarm({ targets = 3, firstHost = 2, config = {}, daemonGlobalLines = [] }: FarmOptions = {}): Promise<Farm> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'fanout-test-'));
  const repo = path.join(root, 'site.git');
  const source = path.join(root, 'www');
  const configFile = path.join(root, 'fanout.yaml');
  const clone = path.join(root, 'clone');
  const daemons: Daemon[] = [];
  try {
    for (let i = 0; i < targets; i += 1) daemons.push(await startDaemon({ hostIndex: firstHost + i, root, name: `web${i + 1}`, globalLines: daemonGlobalLines }));
  } catch (error) {
    await Promise.all(daemons.map((d) => d.stop()));
    throw error;
  }

  const farm: Farm = {
    root,
    repo,
    source,
    stateDir: path.join(repo, 'fanout'),
    configFile,
    clone,
    daemons,
    fanout: (args, options = {}) => ran(process.execPath, [CLI, '--config', configFile, ...args], options),
    git: (args) => ran('git', args, { cwd: clone, env: GIT_IDENTITY }),
    write(files) {
      for (const [rel, spec] of Object.entries(files)) {
        const file = path.join(clone, rel);
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.rmSync(file, { force: true, recursive: true });
        if (typeof spec === 'string') fs.writeFileSync(file, spec);
        else if ('symlink' in spec) fs.symlinkSync(spec.symlink, file);
        else fs.writeFileSync(file, spec.content, { mode: spec.mode ?? 0o644 });
        if (typeof spec !== 'string' && 'mode' in spec && spec.mode !== undefined) fs.chmodSync(file, spec.mode);
      }
    },
    remove(...paths) {
      for (const rel of paths) fs.rmSync(path.join(clone, rel), { recursive: true, force: true });
    },
    async commit(message) {
      await farm.git(['add', '-A']);
      const result = await farm.git(['commit', '-q', '--allow-empty', '-m', message]);
      if (result.exitCode !== 0) throw new Error(`commit failed: ${result.stderr}`);
      return (await farm.git(['rev-parse', 'HEAD'])).stdout.trim();
    },
    push: (args = ['origin', 'HEAD:main']) => farm.git(['push', ...args]),
    async pushWithoutDeploy(args) {
      const hook = path.join(repo, 'hooks', 'post-receive');
      fs.renameSync(hook, `${hook}.off`);
      try {
        return await farm.push(args);
      } finally {
        fs.renameSync(`${hook}.off`, hook);
      }
    },
    history: () =>
      fs
        .readFileSync(path.join(farm.stateDir, 'history.ndjson'), 'utf8')
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as HistoryEntry),
    holdings() {
      // not nextDeployId: a refusal takes an id of its own, for its line in the history
      const { source, targets, current } = JSON.parse(fs.readFileSync(path.join(farm.stateDir, 'state.json'), 'utf8')) as Record<string, unknown>;
      return { source, targets, current };
    },
    writeConfig(extra = {}, targetsOverride) {
      const doc = {
        repo,
        branch: 'main',
        source,
        targets: targetsOverride ?? daemons.map((d) => ({ name: d.name, dest: d.dest, passwordFile: d.passwordFile })),
        retries: 0,
        timeout: 10,
        ...config,
        ...extra,
      };
      fs.writeFileSync(configFile, stringify(doc));
    },
    async cleanup() {
      await Promise.all(daemons.map((d) => d.stop()));
      fs.rmSync(root, { recursive: true, force: true });
    },
  };

  try {
    farm.writeConfig();
    const init = await farm.fanout(['init']);
    if (init.exitCode !== 0) throw new Error(`fanout init failed: ${init.stderr}`);
    await execa('git', ['clone', '-q', repo, clone], { env: GIT_IDENTITY });
    await farm.git(['checkout', '-q', '-b', 'main']);
    // no background gc racing with the test's own reads of the clone
    await farm.git(['config', 'gc.auto', '0']);
  } catch (error) {
    await farm.cleanup();
    throw error;
  }
  return farm;
}
