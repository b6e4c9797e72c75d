import { FanoutError } from '../../base/errors.js';
import { Journal, type HistoryEntry, type TargetOutcome } from '../../engine/journal.js';
import { shortCommit, statusWord, table } from '../../engine/report.js';
import { humanDuration, humanSize } from '../../engine/units.js';
import { deployOutcome } from '../../engine/state.js';
import type { GlobalArgs } from '../global-options.js';
import { when, writeJson } from '../print.js';
import { sessionFor } from '../session.js';

/** `fanout history [ID] [--limit N]`: the last deploys, newest first; or one deploy, whole. */
export function runHistory(args: GlobalArgs & { id: string | undefined; limit: number }): void {
  const { config, out } = sessionFor(args);
  const history = Journal.open(config.stateDir).readHistory();
  if (args.id !== undefined) {
    const entry = findDeploy(history, args.id);
    if (args.json) writeJson(entry);
    else out.write(deployText(entry, out.color));
    return;
  }
  const entries = history.reverse().slice(0, args.limit);
  if (args.json) writeJson({ deploys: entries });
  else out.write(historyText(entries, out.color));
}

/** The entry `fanout history ID` names, or one line saying there is none (exit 2). */
export function findDeploy(history: readonly HistoryEntry[], id: string): HistoryEntry {
  const wanted = /^#?[1-9][0-9]*$/.test(id) ? Number(id.replace('#', '')) : undefined;
  if (wanted === undefined) throw new FanoutError(`"${id}" is not a deploy id: name one of the ids fanout history lists (e.g. fanout history 12)`);
  const entry = history.findLast((e) => e.id === wanted);
  if (entry === undefined) {
    const last = history.at(-1)?.id;
    throw new FanoutError(`no deploy #${wanted} in the history (${last === undefined ? 'there is none yet' : `the last is #${last}`}); fanout history lists them`);
  }
  return entry;
}

/**
 * The deploys for a terminal, a row each, in the order given; under a row, indented, why it went
 * wrong: each failed target's reason (the line its push printed), a refusal's, a failed check's.
 */
export function historyText(entries: readonly HistoryEntry[], color: boolean, now = Date.now()): string {
  if (entries.length === 0) return 'no deploys yet\n';
  const rows = table(
    ['ID', 'WHEN', 'COMMIT', 'REASON', 'BY', 'TOOK', 'TARGETS'],
    entries.map((e) => [String(e.id), when(e.startedAt, now), commitCell(e), e.reason, e.startedBy, humanDuration(Date.parse(e.finishedAt) - Date.parse(e.startedAt)), outcome(e, color)]),
  ).split('\n');
  const lines = [rows[0] ?? ''];
  entries.forEach((e, i) => {
    lines.push(rows[i + 1] ?? '', ...reasons(e).map((r) => `    ${r}`));
  });
  return `${lines.join('\n')}\n`;
}

function commitCell(e: HistoryEntry): string {
  return e.build === undefined ? shortCommit(e.commit) : `${shortCommit(e.commit)} (build of ${shortCommit(e.build.source)}${e.build.reused ? ', reused' : `, ${humanDuration(e.build.durationMs)}`})`;
}

/** What became of each target, and of the switch; or that the deploy was refused, or failed before any target. */
function outcome(e: HistoryEntry, color: boolean): string {
  if (e.refused !== undefined) return statusWord('refused', color);
  if (e.error !== undefined) return `${statusWord('failed', color)} before any target`;
  return [
    e.targets.map((t) => `${t.name} ${statusWord(t.status, color)} ${humanDuration(t.durationMs)}`).join(', '),
    ...(e.switch === undefined ? [] : [`switched ${e.switch.switched} within ${e.switch.skewMs} ms${(e.switch.lagging ?? []).length === 0 ? '' : `, lagging: ${(e.switch.lagging ?? []).join(', ')}`}`]),
  ].join('; ');
}

/** Why a deploy went wrong, a line each: the refusal, the failure before any target, where the rollout stopped, each failed target's reason; and a deploy lock it went through. */
export function reasons(e: HistoryEntry): string[] {
  const lines: string[] = [];
  if (e.overrodeLock !== undefined) lines.push(`went through the deploy lock (--override-lock): ${e.overrodeLock}`);
  if (e.refused !== undefined) lines.push(`refused: ${e.refused}`);
  if (e.error !== undefined) lines.push(`failed: ${e.error}`);
  const stopped = e.rollout?.stopped;
  if (stopped !== undefined) lines.push(`rollout stopped at ${stopped.target} in wave ${stopped.wave + 1}: ${stopped.detail}`);
  for (const t of e.targets) if (t.status === 'failed') lines.push(`${t.name}: ${t.error ?? 'failed (no reason recorded)'}`);
  return lines;
}

/** What a deploy's outcome is called: ok, partial, failed, refused, or a dry run's. */
function outcomeWord(e: HistoryEntry): string {
  if (e.refused !== undefined) return 'refused';
  return e.dryRun === true ? `dry run (${deployOutcome(e)})` : deployOutcome(e);
}

/** `fanout history ID`: one deploy whole: who, when, what, each target, the rollout and the switch. */
export function deployText(e: HistoryEntry, color: boolean, now = Date.now()): string {
  const took = Date.parse(e.finishedAt) - Date.parse(e.startedAt);
  const head: [string, string][] = [
    ['outcome', statusWord(outcomeWord(e), color)],
    ['by', e.startedBy],
    ['reason', e.reason],
    ['commit', `${commitCell(e)} "${e.subject}"`],
    ...(e.message === undefined ? [] : [['message', e.message] as [string, string]]),
    ['started', when(e.startedAt, now)],
    ['finished', `${when(e.finishedAt, now)}, took ${humanDuration(took)}`],
  ];
  const width = Math.max(...head.map(([k]) => k.length));
  const lines = [`deploy #${e.id}`, ...head.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`)];
  const why = reasons(e);
  if (why.length > 0) lines.push('', 'why:', ...why.map((r) => `  ${r}`));
  const text = `${lines.join('\n')}\n`;
  return [text, targetsTable(e.targets, color), rolloutText(e), switchText(e)].filter((part) => part !== '').join('\n');
}

function targetsTable(targets: readonly TargetOutcome[], color: boolean): string {
  if (targets.length === 0) return '';
  return table(
    ['TARGET', 'OUTCOME', 'PASS', 'SENT', 'DELETED', 'BYTES', 'ATTEMPTS', 'TOOK', 'SLOT'],
    targets.map((t) => [
      t.name,
      statusWord(t.status, color),
      t.mode === 'none' ? 'nothing to send' : t.mode === 'full' ? 'full' : 'changed paths',
      String(t.sent),
      String(t.deleted),
      humanSize(t.bytes),
      String(t.attempts),
      humanDuration(t.durationMs),
      t.slot === undefined ? '-' : `${t.slot}${t.switchedAt === undefined ? '' : ' (live)'}`,
    ]),
  );
}

/** The waves the release went out in and every check's answer. */
function rolloutText(e: HistoryEntry): string {
  const rollout = e.rollout;
  if (rollout === undefined) return '';
  const lines = ['rollout:'];
  rollout.waves.forEach((wave, i) => {
    lines.push(`  wave ${i + 1}: ${wave.join(', ')}`);
    for (const c of rollout.checks.filter((check) => check.wave === i)) {
      lines.push(`    check ${c.target}: ${c.ok ? 'ok' : 'FAILED'} (${c.detail}; ${c.attempts} ${c.attempts === 1 ? 'try' : 'tries'}, ${humanDuration(c.durationMs)})`);
    }
  });
  if (rollout.stopped !== undefined) lines.push(`  stopped in wave ${rollout.stopped.wave + 1} at ${rollout.stopped.target}: ${rollout.stopped.detail}`);
  return `${lines.join('\n')}\n`;
}

/** layout: slots: the switch of `current` across the farm. */
function switchText(e: HistoryEntry): string {
  const s = e.switch;
  if (s === undefined) return '';
  const held = s.held.length === 0 ? '' : `; held back: ${s.held.join(', ')}`;
  const lagging = s.lagging ?? [];
  const lag = lagging.length === 0 ? '' : `; lagging (not switched, serving their old release until fanout sync catches them up): ${lagging.join(', ')}`;
  return `switch: ${s.switched} target${s.switched === 1 ? '' : 's'} switched within ${s.skewMs} ms of each other, from ${s.at}${held}${lag}\n`;
}
