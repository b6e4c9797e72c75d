import fs from 'node:fs';
import path from 'node:path';
import { pino, type Logger } from 'pino';
import { assertOwnStateDir, openOwnFile } from './trust.js';

export type { Logger };

/** A logger that writes nowhere: for commands that run before the state directory is known. */
export const silentLogger: Logger = pino({ level: 'silent' });

/**
 * The log file as pino's destination: each line written synchronously, so that a deploy killed
 * half-way leaves every line it reached; `reopen` starts on whatever file is at the path now (after
 * logrotate moved the old one away). Opened by fanout, never through a symlink planted as
 * fanout.log (pino's own file destination would follow one).
 */
class LogFile {
  private fd: number;

  constructor(private readonly file: string) {
    this.fd = openOwnFile(file, 'append');
  }

  write(line: string): void {
    fs.writeSync(this.fd, line);
  }

  reopen(): void {
    const next = openOwnFile(this.file, 'append');
    const old = this.fd;
    this.fd = next;
    fs.closeSync(old);
  }
}

const files = new WeakMap<Logger, LogFile>();

/**
 * Structured JSON lines in the state directory (`fanout.log`), mode 600; every command opens it
 * anew. With stages, each line names its stage too, for a shipper that gathers them all.
 */
export function openLog(stateDir: string, stage?: string): Logger {
  assertOwnStateDir(stateDir);
  fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const file = new LogFile(path.join(stateDir, 'fanout.log'));
  const logger = pino({ base: { pid: process.pid, ...(stage === undefined ? {} : { stage }) }, timestamp: pino.stdTimeFunctions.isoTime }, file);
  files.set(logger, file);
  return logger;
}

/**
 * A long-running fanout (watch) reopens its log on SIGHUP, as daemons do for logrotate
 * (config/fanout.logrotate); the shorter commands open it on each run.
 */
export function reopenLogOnHangup(logger: Logger): void {
  const file = files.get(logger);
  if (file === undefined) return;
  process.on('SIGHUP', () => {
    try {
      file.reopen();
      logger.info('log reopened (SIGHUP)');
    } catch (error) {
      process.stderr.write(`fanout: cannot reopen the log: ${error instanceof Error ? error.message : String(error)}\n`);
    }
  });
}
