import fs from 'node:fs';
import path from 'node:path';
import { pino, type Logger } from 'pino';
import { assertOwnStateDir, openOwnFile } from './trust.js';

export type { Logger };

/** A logger that writes nowhere: for commands that run before the state directory is known. */
export const silentLogger: Logger = pino({ level: 'silent' });

/**
 * Structured JSON log in the state directory, mode 600. Written synchronously so that a deploy
 * killed half-way leaves every line it reached.
 */
export function openLog(stateDir: string): Logger {
  assertOwnStateDir(stateDir);
  fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  // opened here, never through a symlink planted as fanout.log, and handed to pino as a descriptor
  const fd = openOwnFile(path.join(stateDir, 'fanout.log'), 'append');
  return pino({ base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ fd, sync: true }));
}
