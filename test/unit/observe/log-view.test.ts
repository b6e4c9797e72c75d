import { describe, expect, it } from 'vitest';
import { deployFilter, parseRecord, recordLine, type LogRecord } from '../../../src/observe/log-view.js';

const at = '2026-12-06T17:03:33.123Z';
const record = (fields: Partial<LogRecord> & Record<string, unknown>): LogRecord => ({ level: 30, time: at, pid: 7, ...fields });

describe('parseRecord', () => {
  it('reads a pino line', () => {
    expect(parseRecord('{"level":30,"time":"2026-12-06T17:03:33.123Z","pid":7,"msg":"deploy started","deployId":4}')).toEqual({ level: 30, time: at, pid: 7, msg: 'deploy started', deployId: 4 });
  });

  it('takes nothing else for a record: a line cut short, an array, a line without a level or a time', () => {
    for (const line of ['{"level":30,"time":"2026-12-06T17:0', '[1,2]', '{"msg":"x"}', '{"level":"info","time":"t"}', 'plain text', '']) expect(parseRecord(line), line).toBeUndefined();
  });
});

describe('recordLine', () => {
  it('prints the time, the level, the process and the message, then every field as name=value', () => {
    expect(recordLine(record({ msg: 'deploy started', deployId: 4, reason: 'push' }), false)).toBe('2026-12-06 17:03:33.123 INFO  [7] deploy started deployId=4 reason=push');
  });

  it('quotes a value with spaces, quotes or an equals sign, and writes objects as JSON, so a field reads back whole', () => {
    const line = recordLine(record({ level: 40, msg: 'slow', startedBy: 'git push (git)', path: 'a=b', targets: [{ name: 'web1' }] }), false);
    expect(line).toBe('2026-12-06 17:03:33.123 WARN  [7] slow startedBy="git push (git)" path="a=b" targets=[{"name":"web1"}]');
  });

  it('colours a warning, an error and a debug line on a terminal, and nothing when asked for none', () => {
    expect(recordLine(record({ level: 50, msg: 'x' }), true)).toContain('\u001b[31mERROR\u001b[0m');
    expect(recordLine(record({ level: 40, msg: 'x' }), true)).toContain('\u001b[33mWARN \u001b[0m');
    expect(recordLine(record({ level: 20, msg: 'x' }), true)).toContain('\u001b[2mDEBUG\u001b[0m');
    expect(recordLine(record({ level: 30, msg: 'x' }), true)).not.toContain('\u001b');
    expect(recordLine(record({ level: 50, msg: 'x' }), false)).not.toContain('\u001b');
  });
});

describe('deployFilter', () => {
  const lines: LogRecord[] = [
    record({ pid: 1, msg: 'deploy lock taken' }),
    record({ pid: 1, msg: 'deploy started', deployId: 3 }),
    record({ pid: 2, msg: 'deploy lock taken' }),
    record({ pid: 1, level: 20, msg: 'exec', command: 'rsync' }),
    record({ pid: 1, msg: 'deploy finished', deployId: 3 }),
    record({ pid: 1, msg: 'after the deploy' }),
    record({ pid: 2, msg: 'deploy started', deployId: 4 }),
    record({ pid: 2, level: 50, msg: 'rsync failed' }),
    record({ pid: 2, msg: 'watch will retry' }),
    record({ pid: 2, msg: 'deploy started', deployId: 5 }),
  ];
  const kept = (id: number): string[] => lines.filter(deployFilter(id)).map((r) => `${r.pid ?? ''} ${r.msg ?? ''}`);

  it('keeps a deploy from its start to its finish, in its own process only', () => {
    expect(kept(3)).toEqual(['1 deploy started', '1 exec', '1 deploy finished']);
  });

  it("ends a deploy that never finished where its process starts the next (a watch's batches)", () => {
    expect(kept(4)).toEqual(['2 deploy started', '2 rsync failed', '2 watch will retry']);
  });

  it('keeps nothing for a deploy the log does not hold', () => {
    expect(kept(9)).toEqual([]);
  });
});
