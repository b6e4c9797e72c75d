import type { Config } from '../base/config.js';
import { Refusal } from '../base/errors.js';
import type { Commit } from '../base/git.js';
import type { State } from '../engine/journal.js';
import { upToDate } from '../engine/state.js';

// fanout promote FROM TO: TO gets exactly what FROM serves, the same commit (with build: the same
// build commit, not a rebuild), and only what FROM has proved: served on every one of its targets,
// and not a release a check failed on there.

/** The commit FROM serves, fit to promote; else a refusal saying why, and what would make it fit. */
export function promotable(from: Pick<Config, 'stage' | 'targets'>, state: State): Commit {
  const stage = from.stage ?? 'the source stage';
  const current = state.current;
  if (current === null) throw new Refusal(`stage ${stage} has no deploy yet: nothing to promote (push to its branch, or fanout deploy --stage ${stage})`, 1);
  const commit = current.commit;
  const short = commit.slice(0, 10);
  if (state.rejected?.commit === commit) throw new Refusal(`${short} failed its check on stage ${stage} (${state.rejected.target}: ${state.rejected.detail}); nothing was promoted`, 1);
  const missing = from.targets.filter((t) => !upToDate(state.targets[t.name], commit)).map((t) => `${t.name} (${state.targets[t.name]?.status === 'failed' ? `failed: ${state.targets[t.name]?.error ?? 'no reason recorded'}` : `serves ${state.targets[t.name]?.commit?.slice(0, 10) ?? 'nothing yet'}`})`);
  if (missing.length > 0) throw new Refusal(`stage ${stage} does not serve ${short} on every target: ${missing.join(', ')}; nothing was promoted (fanout sync --stage ${stage} first)`, 1);
  return commit;
}
