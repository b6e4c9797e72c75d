import path from 'node:path';
import { loadConfig, type Config } from './config.js';
import type { Context } from './deploy.js';
import type { HistoryEntry } from './journal.js';
import { openLog, type Logger } from './log.js';
import { humanReporter, jsonReporter, stdoutOutput, type Output, type Reporter } from './report.js';

/** --config, else $FANOUT_CONFIG, else ./fanout.yaml: the working directory is read here only. */
export function configPath(option: string | undefined): string {
  return path.resolve(option ?? process.env.FANOUT_CONFIG ?? 'fanout.yaml');
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
  return { config, log, reporter, out, json };
}

/** A deploy exits 1 when any target failed (DESIGN.md), 0 when it did nothing or all went well. */
export function exitFor(entry: HistoryEntry | undefined): number {
  return entry !== undefined && entry.targets.some((t) => t.status === 'failed') ? 1 : 0;
}
