import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FanoutError } from '../../base/errors.js';
import { openOwnFile } from '../../base/trust.js';
import { deployFilter, LEVELS, parseRecord, recordLine, type LevelName } from '../../observe/log-view.js';
import type { GlobalArgs } from '../global-options.js';
import { sessionFor } from '../session.js';

export interface LogArgs extends GlobalArgs {
  follow: boolean;
  deploy: number | undefined;
  level: LevelName;
}

/** How often --follow looks for new lines, and for a log logrotate replaced. */
const FOLLOW_POLL_MS = 300;

/**
 * `fanout log`: the state directory's fanout.log, a readable line per record (--json: the records
 * as they are), from the level asked for up; --deploy N only that deploy's lines, --follow then
 * every line as it is written, across a logrotate.
 */
export async function runLog(args: LogArgs): Promise<void> {
  const { config, out } = sessionFor(args);
  const file = path.join(config.stateDir, 'fanout.log');
  const ofDeploy = args.deploy === undefined ? () => true : deployFilter(args.deploy);
  let deployFound = false;
  const show = (lines: readonly string[]): void => {
    let text = '';
    for (const line of lines) {
      const record = parseRecord(line);
      // a line that is not a record (cut short by a crash) is shown as it is, outside a deploy's lines
      if (record === undefined) {
        if (args.deploy === undefined && line !== '') text += `${line}\n`;
        continue;
      }
      if (!ofDeploy(record)) continue;
      deployFound = true;
      if (record.level >= LEVELS[args.level]) text += args.json ? `${line}\n` : `${recordLine(record, out.color)}\n`;
    }
    if (text !== '') out.write(text);
  };
  const start = readFrom(file, 0);
  show(start.lines);
  if (args.deploy !== undefined && !deployFound && !args.follow) throw new FanoutError(`deploy ${args.deploy} is not in ${file} (older deploys are in the files logrotate kept; fanout history lists them all)`);
  if (args.follow) await follow(file, start, show);
}

interface ReadPosition {
  /** the file read, by inode: another one at the path means logrotate moved this one away */
  ino: number;
  /** where the next whole line starts */
  next: number;
}

/** The whole lines of the log after `offset`; a line still being written waits for the next read. */
function readFrom(file: string, offset: number): ReadPosition & { lines: string[] } {
  const fd = openOwnFile(file, 'read');
  try {
    const { ino, size } = fs.fstatSync(fd);
    if (size <= offset) return { ino, next: offset, lines: [] };
    const buffer = Buffer.alloc(size - offset);
    fs.readSync(fd, buffer, 0, buffer.length, offset);
    const end = buffer.lastIndexOf(0x0a);
    if (end < 0) return { ino, next: offset, lines: [] };
    return { ino, next: offset + end + 1, lines: buffer.subarray(0, end).toString('utf8').split('\n') };
  } finally {
    fs.closeSync(fd);
  }
}

/** --follow: until interrupted, the lines written since, from the start of a new file once the log is rotated. */
async function follow(file: string, from: ReadPosition, show: (lines: readonly string[]) => void): Promise<never> {
  let at = from;
  for (;;) {
    await sleep(FOLLOW_POLL_MS);
    let now: fs.Stats;
    try {
      now = fs.statSync(file);
    } catch {
      continue; // rotated away, and the next fanout has not written the new one yet
    }
    const offset = now.ino !== at.ino || now.size < at.next ? 0 : at.next;
    const read = readFrom(file, offset);
    at = read;
    show(read.lines);
  }
}
