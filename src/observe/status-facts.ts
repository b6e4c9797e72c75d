import type { Config } from '../base/config.js';
import { branchTip, commitInfo, type Commit } from '../base/git.js';
import { selectTargets } from '../deploy/deploy.js';
import type { HistoryEntry, State } from '../engine/journal.js';
import { readFreeze, type Freeze } from '../engine/freeze.js';
import { readWatchState, watchStatusLine, type WatchState } from '../watch/watcher-state.js';
import { currentByOf, farmStatus, lastAutoRollback, type AutoRollback, type CurrentBy, type FarmStatus } from './status.js';

/**
 * What `fanout status` says, read from the journal, watch's state and the repository: one reading
 * for `status` (text and --json) and the farm page, so that the two never disagree.
 */
export interface StatusFacts {
  status: FarmStatus;
  /** each commit named (the current deploy, the branch tip, what every target and slot holds), its subject */
  subjects: ReadonlyMap<string, string>;
  watchState: WatchState | undefined;
  state: Pick<State, 'source' | 'rejected'>;
  autoRollback: AutoRollback | undefined;
  /** with build: the current deploy is a build commit, made from a source commit */
  currentBuild: HistoryEntry['build'];
  /** who made the current deploy, and why when they said (absent: its history entry is gone) */
  currentBy?: CurrentBy;
  /** the operator's deploy lock, when taken (fanout lock) */
  lock?: Freeze;
}

/**
 * The status of the targets `only` names (all when empty). `history` holds the current deploy's
 * entry when it has not been cut off; `time` writes watch's time as the reader shows its others.
 */
export async function readStatus(config: Config, state: State, history: readonly HistoryEntry[], only: readonly string[], time: (iso: string) => string): Promise<StatusFacts> {
  const watchState = readWatchState(config.stateDir);
  const currentEntry = state.current === null ? undefined : history.find((e) => e.id === state.current?.deployId);
  const status = farmStatus(
    selectTargets(config, only).map((t) => t.name),
    state,
    await branchTip(config.repo, config.branch),
    watchStatusLine(watchState, time),
    currentEntry,
  );
  const held = status.targets.flatMap((s) => [s.commit, ...(s.slots ?? []).map((slot) => slot.commit)]);
  const subjects = await commitSubjects(config.repo, [status.current?.commit ?? null, status.branchTip, ...held]);
  const lock = readFreeze(config.stateDir);
  return { status, subjects, watchState, state, autoRollback: lastAutoRollback(history), currentBuild: currentEntry?.build, ...(currentEntry === undefined ? {} : { currentBy: currentByOf(currentEntry) }), ...(lock === undefined ? {} : { lock }) };
}

async function commitSubjects(repo: string, commits: Iterable<Commit | null>): Promise<Map<string, string>> {
  const map = new Map<string, string>();
  for (const c of new Set(commits)) {
    if (c === null) continue;
    map.set(c, await commitInfo(repo, c).then((i) => i.subject, () => '(commit not in the repository)'));
  }
  return map;
}
