import fs from 'node:fs';
import path from 'node:path';
import { pino, type Logger } from 'pino';

export type { Logger };

/** A logger that writes nowhere: for commands that run before the state directory is known. */
export const silentLogger: Logger = pino({ level: 'silent' });

/**
 * Structured JSON log in the state directory, mode 600. Written synchronously so that a deploy
 * killed half-way leaves every line it reached.
 */
export function openLog(stateDir: string): Logger {
  fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const file = path.join(stateDir, 'fanout.log');
  fs.closeSync(fs.openSync(file, 'a', 0o600));
  return pino(
    { base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime },
    pino.destination({ dest: file, sync: true, mkdir: true }),
  );
}
