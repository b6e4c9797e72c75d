import fs from 'node:fs';
import path from 'node:path';
import { loadConfig, type Config } from '../base/config.js';
import type { ConfigOrigin } from '../base/config-access.js';
import type { Context } from '../engine/context.js';
import { exportFarmPage } from '../observe/farm-page-file.js';
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
 * drops it) or git-shell. The working directory is read here only. With neither file there, the
 * local name, so that the error names where it looked first; the origin lists every place looked at.
 */
export function configSearch(option: string | undefined, env: NodeJS.ProcessEnv = process.env, exists: (file: string) => boolean = mayExist, args: readonly string[] = process.argv.slice(2)): ConfigOrigin {
  if (option !== undefined) return { file: path.resolve(option), by: '--config', looked: [], args };
  if (env.FANOUT_CONFIG !== undefined && env.FANOUT_CONFIG !== '') return { file: path.resolve(env.FANOUT_CONFIG), by: '$FANOUT_CONFIG', looked: [], args };
  let local: string | undefined;
  try {
    local = path.resolve('fanout.yaml');
  } catch {
    local = undefined; // the working directory is gone or unreadable
  }
  const looked = local === undefined ? [SYSTEM_CONFIG] : [local, SYSTEM_CONFIG];
  const found = looked.find((file) => exists(file));
  return { file: found ?? looked[0] ?? SYSTEM_CONFIG, by: 'search', looked, args };
}

/** The config file a command works with (see configSearch). */
export function configPath(option: string | undefined, env: NodeJS.ProcessEnv = process.env, exists: (file: string) => boolean = mayExist): string {
  return configSearch(option, env, exists, []).file;
}

/**
 * A file there, or one this user may not look for (a directory in the way it may not enter): the
 * latter is taken, so that its error names the owner rather than saying there is no config.
 */
function mayExist(file: string): boolean {
  try {
    fs.statSync(file);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code !== 'ENOENT' && code !== 'ENOTDIR';
  }
}

/** What a command that reads the config works with: the config, its log, where its report goes. */
export interface Session extends Context {
  config: Config;
  log: Logger;
  reporter: Reporter;
  out: Output;
  json: boolean;
}

export function session(configFile: string, json: boolean, origin?: ConfigOrigin, stage?: string): Session {
  return sessionOf(loadConfig(configFile, origin, stage), json);
}

/** The session of a config already loaded (the hook's, one per stage a push deploys). */
export function sessionOf(config: Config, json: boolean): Session {
  const log = openLog(config.stateDir, config.stage);
  const out = stdoutOutput();
  const nameWidth = Math.max(...config.targets.map((t) => t.name.length), 4);
  const reporter = json ? jsonReporter(out) : humanReporter(out, nameWidth);
  const publish = async (): Promise<string[]> => [await exportMetrics(config, log), await exportFarmPage(config, log)].filter((warning) => warning !== undefined);
  return { config, log, reporter, out, json, publish };
}

/** The session a command's --config and --json ask for. */
export function sessionFor(args: Pick<GlobalArgs, 'config' | 'json' | 'stage'>): Session {
  const origin = configSearch(args.config);
  return session(origin.file, args.json, origin, args.stage);
}

/** A deploy exits 1 when any target failed (DESIGN.md), 0 when it did nothing or all went well. */
export function exitFor(entry: HistoryEntry | undefined): number {
  return entry !== undefined && entry.targets.some((t) => t.status === 'failed') ? 1 : 0;
}
