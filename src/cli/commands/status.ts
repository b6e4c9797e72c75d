import type { Config } from '../../base/config.js';
import { selectTargets } from '../../deploy/deploy.js';
import { Journal } from '../../engine/journal.js';
import { paint, shortCommit, statusWord, table } from '../../engine/report.js';
import { humanDuration } from '../../engine/units.js';
import { describeFreeze } from '../../engine/freeze.js';
import { metricsFacts, prometheusText } from '../../observe/metrics.js';
import { autoRollbackLine, rejectedLine, slotsLine, statusDocument } from '../../observe/status.js';
import { readStatus, type StatusFacts } from '../../observe/status-facts.js';
import type { GlobalArgs } from '../global-options.js';
import { truncate, when, writeJson } from '../print.js';
import { sessionFor } from '../session.js';

/** `fanout status [--prometheus]`: exit 1 unless the farm is ok (--prometheus: always 0). */
export async function runStatus(args: GlobalArgs & { prometheus: boolean }): Promise<void> {
  const { config, out, log } = sessionFor(args);
  const journal = Journal.open(config.stateDir);
  if (args.prometheus) {
    // what metrics.textfile holds, once: the state is in the values, so the exit is 0
    out.write(prometheusText(await metricsFacts({ ...config, targets: selectTargets(config, args.target) }, journal.state, log)));
    return;
  }
  const facts = await readStatus(config, journal.state, journal.readHistory(), args.target, (iso) => when(iso));
  process.exitCode = facts.status.ok ? 0 : 1;
  if (args.json) writeJson({ ...statusDocument(facts.status, facts.subjects, facts.watchState, facts.state, facts.autoRollback, facts.currentBuild, facts.currentBy), lock: facts.lock ?? null });
  else out.write(statusText(facts, config, out.color));
}

/** The status for a terminal: the farm in a few lines, a table of the targets, watch's line. */
export function statusText(facts: StatusFacts, config: Pick<Config, 'branch' | 'source' | 'stateDir'>, color: boolean, now = Date.now()): string {
  const { status, subjects } = facts;
  const targets = table(
    ['TARGET', 'STATE', 'COMMIT', 'SUBJECT', 'SINCE', 'DETAIL'],
    status.targets.map((s) => [
      s.name,
      statusWord(s.health, color),
      s.commit === null ? '-' : shortCommit(s.commit),
      s.commit === null ? '-' : truncate(subjects.get(s.commit) ?? '', 40),
      when(s.at, now),
      [s.error, slotsLine(s)].filter((d) => d !== undefined).join('; '),
    ]),
  );
  const head = farmLines(facts, config, color, now).map((line) => `${line}\n`);
  return `${head.join('')}\n${targets}${status.watch === undefined ? '' : `\n${status.watch.line}\n`}`;
}

/** Names, the first `most` of them and how many more: a farm of 1,000 has no room for every one. */
function namesUpTo(names: readonly string[], most: number): string {
  return names.length <= most ? names.join(', ') : `${names.slice(0, most).join(', ')} and ${names.length - most} more`;
}

function farmLines(facts: StatusFacts, config: Pick<Config, 'branch' | 'source' | 'stateDir'>, color: boolean, now: number): string[] {
  const { status, subjects: names, state, autoRollback, currentBuild, currentBy } = facts;
  const { current, branchTip: tip, sourceError } = status;
  const by = currentBy === undefined ? '' : `, ${currentBy.startedBy}`;
  const lines = [
    ...(facts.lock === undefined ? [] : [`${paint(color, 31, 'LOCKED')}: deploys are ${describeFreeze(facts.lock)} (fanout unlock lifts it)`]),
    current === null
      ? 'current deploy: none yet (git push, or fanout deploy)'
      : `current deploy: ${shortCommit(current.commit)} "${names.get(current.commit) ?? ''}" (deploy #${current.deployId}${by}, ${when(current.at, now)})`,
  ];
  if (current !== null && currentBy?.message !== undefined) lines.push(`  message: "${currentBy.message}"`);
  if (currentBuild !== undefined) lines.push(`built from ${shortCommit(currentBuild.source)}${currentBuild.reused ? ' (a build made before, reused)' : ` in ${humanDuration(currentBuild.durationMs)}`}; its log: ${config.stateDir}/builds/${currentBuild.source}.log`);
  if (sourceError !== undefined) lines.push(`${statusWord('failed', color)}: the last deploy could not check its commit out into ${config.source}: ${sourceError}`);
  // an automatic rollback says what failed and where the farm went; else a release still rejected
  if (autoRollback !== undefined) lines.push(autoRollbackLine(autoRollback));
  else if (state.rejected !== undefined) lines.push(rejectedLine(state.rejected));
  const lagging = status.targets.filter((t) => t.health === 'lagging').map((t) => t.name);
  if (lagging.length > 0) lines.push(`${statusWord('lagging', color)}: ${namesUpTo(lagging, 10)} (the farm switched without ${lagging.length === 1 ? 'it' : 'them'}: ${lagging.length === 1 ? 'it serves its' : 'they serve their'} old release until fanout sync catches ${lagging.length === 1 ? 'it' : 'them'} up)`);
  if (tip !== null && !status.tip.deployed) lines.push(`branch ${config.branch} is at ${shortCommit(tip)} "${names.get(tip) ?? ''}", not deployed: ${status.tip.why ?? ''}`);
  return lines;
}
