import { Journal, type HistoryEntry } from '../../engine/journal.js';
import { humanDuration, shortCommit, statusWord, table } from '../../engine/report.js';
import type { GlobalArgs } from '../global-options.js';
import { when, writeJson } from '../print.js';
import { sessionFor } from '../session.js';

/** `fanout history [--limit N]`: the last deploys, newest first. */
export function runHistory(args: GlobalArgs & { limit: number }): void {
  const { config, out } = sessionFor(args);
  const entries = Journal.open(config.stateDir).readHistory().reverse().slice(0, args.limit);
  if (args.json) writeJson({ deploys: entries });
  else out.write(historyText(entries, out.color));
}

/** The deploys for a terminal, a row each, in the order given. */
export function historyText(entries: readonly HistoryEntry[], color: boolean, now = Date.now()): string {
  if (entries.length === 0) return 'no deploys yet\n';
  return table(
    ['ID', 'WHEN', 'COMMIT', 'REASON', 'BY', 'TOOK', 'TARGETS'],
    entries.map((e) => [
      String(e.id),
      when(e.startedAt, now),
      e.build === undefined ? shortCommit(e.commit) : `${shortCommit(e.commit)} (build of ${shortCommit(e.build.source)}${e.build.reused ? ', reused' : `, ${humanDuration(e.build.durationMs)}`})`,
      e.reason,
      e.startedBy,
      humanDuration(Date.parse(e.finishedAt) - Date.parse(e.startedAt)),
      outcome(e, color),
    ]),
  );
}

/** What became of each target, and of the switch; or why the deploy failed before any target. */
function outcome(e: HistoryEntry, color: boolean): string {
  if (e.error !== undefined) return `${statusWord('failed', color)} ${e.error}`;
  return [
    e.targets.map((t) => `${t.name} ${statusWord(t.status, color)} ${humanDuration(t.durationMs)}`).join(', '),
    ...(e.switch === undefined ? [] : [`switched ${e.switch.switched} within ${e.switch.skewMs} ms`]),
  ].join('; ');
}
