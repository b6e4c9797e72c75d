import fs from 'node:fs';
import path from 'node:path';
import { FanoutError } from './errors.js';
import { run } from './exec.js';
import { ensureDir } from './journal.js';
import { openOwnFile } from './trust.js';
import type { Logger } from './log.js';

export interface Lock {
  release(): void;
}

/**
 * The deploy lock: flock(2) on `<stateDir>/lock`, taken by util-linux `flock` on a descriptor this
 * process keeps open. The kernel drops the lock when the process dies, however it dies (SIGKILL
 * included), so a stale lock cannot exist and needs no detection. The file holds the holder's pid
 * and purpose, for the message a waiting deploy prints.
 */
export async function acquireLock(
  stateDir: string,
  waitSeconds: number,
  purpose: string,
  log: Logger,
  onWait: (holder: string) => void = () => undefined,
): Promise<Lock> {
  ensureDir(stateDir);
  const file = path.join(stateDir, 'lock');
  const fd = openOwnFile(file, 'update');
  try {
    let result = await run('flock', ['--exclusive', '--nonblock', '3'], { fd3: fd, log });
    if (result.exitCode === 1) {
      const holder = readHolder(fd);
      onWait(holder);
      log.info({ holder }, 'waiting for the deploy lock');
      result = await run('flock', ['--exclusive', '--timeout', String(waitSeconds), '3'], { fd3: fd, log });
      if (result.exitCode === 1) {
        throw new FanoutError(`another deploy (${readHolder(fd)}) still holds ${file} after ${waitSeconds}s (lockTimeout); try again later`, 1);
      }
    }
    if (result.exitCode !== 0) {
      throw new FanoutError(`cannot lock ${file}: ${result.spawnError ?? result.stderr.trim()}${result.spawnError?.includes('not found') === true ? ' (flock comes with util-linux: apt-get install util-linux)' : ''}`, 1);
    }
    const holder = `pid ${process.pid}, ${purpose}, since ${new Date().toISOString()}`;
    fs.ftruncateSync(fd, 0);
    fs.writeSync(fd, `${holder}\n`, 0);
    log.info({ purpose }, 'deploy lock taken');
    return {
      release: () => {
        fs.ftruncateSync(fd, 0);
        fs.closeSync(fd);
      },
    };
  } catch (error) {
    fs.closeSync(fd);
    throw error;
  }
}

function readHolder(fd: number): string {
  const buffer = Buffer.alloc(512);
  const length = fs.readSync(fd, buffer, 0, buffer.length, 0);
  return buffer.subarray(0, length).toString('utf8').trim() || 'unknown holder';
}
