/**
 * `fanout log`: the JSON lines pino writes to fanout.log, as a person reads them. The file stays
 * JSON for log shippers; this is only a view of it, a line per record: the time, the level, the
 * message, then every other field as name=value.
 */

/** One record as pino wrote it: a level number, a time, the process, a message, any fields. */
export interface LogRecord {
  level: number;
  time: string;
  pid?: number;
  msg?: string;
  [field: string]: unknown;
}

/** pino's levels, by the names --level takes. */
export const LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const;
export type LevelName = keyof typeof LEVELS;

/** A line of the file as a record, or undefined for anything else (a line cut short by a crash, say). */
export function parseRecord(line: string): LogRecord | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const record = value as Record<string, unknown>;
  return typeof record.level === 'number' && typeof record.time === 'string' ? (record as LogRecord) : undefined;
}

function levelName(level: number): string {
  const names = Object.entries(LEVELS).filter(([, n]) => n <= level);
  return names.at(-1)?.[0] ?? String(level);
}

// yellow for a warning, red for an error, dim for what only --level debug shows
const LEVEL_COLOUR: Record<string, number> = { trace: 2, debug: 2, warn: 33, error: 31, fatal: 31 };

/** A field's value: a word as it is, anything else (spaces, quotes, objects) as JSON, so that it reads back unambiguously. */
function valueText(value: unknown): string {
  if (typeof value === 'string') return /^[^\s"=\\]+$/.test(value) ? value : JSON.stringify(value);
  return JSON.stringify(value) ?? String(value);
}

/** The time as the other read-outs print it (status, history): date and time, UTC, to the millisecond here. */
function timeText(iso: string): string {
  const at = new Date(iso);
  return Number.isNaN(at.getTime()) ? iso : at.toISOString().slice(0, 23).replace('T', ' ');
}

/** One record for a terminal: time, level, message, fields. */
export function recordLine(record: LogRecord, color: boolean): string {
  const { level, time, pid, msg, ...fields } = record;
  const name = levelName(level);
  const code = LEVEL_COLOUR[name];
  const shownName = code === undefined || !color ? name.toUpperCase().padEnd(5) : `\u001b[${code}m${name.toUpperCase().padEnd(5)}\u001b[0m`;
  const extras = Object.entries(fields).map(([key, value]) => `${key}=${valueText(value)}`);
  return [timeText(time), shownName, `[${pid ?? '?'}]`, msg ?? '', ...extras].join(' ').trimEnd();
}

/**
 * The records of one deploy: from its `deploy started` line, every line of the same process
 * (rsync, git, hooks), up to its `deploy finished` line, or up to the next deploy that process
 * starts (a watch runs many) when it ended in an error. A filter to feed the records in order.
 */
export function deployFilter(deployId: number): (record: LogRecord) => boolean {
  let pid: number | undefined;
  let done = false;
  return (record) => {
    if (done) return false;
    if (pid === undefined) {
      if (record.msg !== 'deploy started' || record.deployId !== deployId) return false;
      pid = record.pid ?? -1;
      return true;
    }
    if (record.pid !== pid) return false;
    if (record.msg === 'deploy started') {
      done = true;
      return false;
    }
    if (record.msg === 'deploy finished' && record.deployId === deployId) done = true;
    return true;
  };
}
