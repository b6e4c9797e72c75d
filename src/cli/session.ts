import fs from 'node:fs';
import path from 'node:path';
import { loadConfig, type Config } from '../base/config.js';
import type { Context } from '../engine/context.js';
import { exportMetrics } from '../observe/metrics.js';
import type { HistoryEntry } from '../engine/journal.js';
import { openLog, type Logger } from '../base/log.js';
import { humanReporter, jsonReporter, stdoutOutput, type Output, type Reporter } from '../engine/report.js';
import type { GlobalArgs } from './global-options.js';

/** Where a config is looked for when neither --config nor $FANOUT_CONFIG names one, and ./fanout.yaml is not there. */
export const SYSTEM_CONFIG = '/etc/fanout/fanout.yaml';

/**
 * --config, else $FANOUT_CONFIG, else ./fanout.yaml, else /etc/fanout/fanout.yaml: the last so that
 * `sudo -u git fanout status` works without carrying an environment variable through sudo (which
 * drops it) or git-shell. The working directory is read here only.
 */
export function configPath(option: string | undefined, env: NodeJS.ProcessEnv = process.env, exists: (file: string) => boolean = fs.existsSync): string {
  if (option !== undefined) return path.resolve(option);
  if (env.FANOUT_CONFIG !== undefined && env.FANOUT_CONFIG !== '') return path.resolve(env.FANOUT_CONFIG);
  let local: string | undefined;
  try {
    local = path.resolve('fanout.yaml');
  } catch {
    local = undefined; // the working directory is gone or unreadable
  }
  return local !== undefined && exists(local) ? local : exists(SYSTEM_CONFIG) ? SYSTEM_CONFIG : (local ?? SYSTEM_CONFIG);
}

/** What a command that reads the config works with: the config, its log, where its report goes. */
export interface Session extends Context {
  config: Config;
  log: Logger;
  reporter: Reporter;
  out: Output;
  json: boolean;
}

export function session(configFile: string, json: boolean): Session {
  const config = loadConfig(configFile);
  const log = openLog(config.stateDir);
  const out = stdoutOutput();
  const nameWidth = Math.max(...config.targets.map((t) => t.name.length), 4);
  const reporter = json ? jsonReporter(out) : humanReporter(out, nameWidth);
  const publish = async (): Promise<string[]> => [await exportMetrics(config, log)].filter((warning) => warning !== undefined);
  return { config, log, reporter, out, json, publish };
}

/** The session a command's --config and --json ask for. */
export function sessionFor(args: Pick<GlobalArgs, 'config' | 'json'>): Session {
  return session(configPath(args.config), args.json);
}

/** A deploy exits 1 when any target failed (DESIGN.md), 0 when it did nothing or all went well. */
export function exitFor(entry: HistoryEntry | undefined): number {
  return entry !== undefined && entry.targets.some((t) => t.status === 'failed') ? 1 : 0;
}
