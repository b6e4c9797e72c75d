import type { Commit } from './git.js';
import type { State } from './journal.js';
import { upToDate } from './state.js';

export type TargetHealth = 'ok' | 'behind' | 'failed' | 'unknown';

export interface TargetStatus {
  name: string;
  health: TargetHealth;
  commit: Commit | null;
  at: string | null;
  error: string | undefined;
}

/** What `fanout sync` with no --target catches up: every target that is not ok. */
export function targetsToSync(names: readonly string[], state: State): string[] {
  return targetStatuses(names, state)
    .filter((s) => s.health !== 'ok')
    .map((s) => s.name);
}

/**
 * Each target against the current deploy: `ok` has it (and no edit made outside git that it
 * lacks), `behind` completely holds an older commit (or lacks such edits),
 * `failed` its last attempt failed (or was cut short), `unknown` never deployed or state lost.
 */
export function targetStatuses(names: readonly string[], state: State): TargetStatus[] {
  const current = state.current?.commit ?? null;
  return names.map((name): TargetStatus => {
    const t = state.targets[name];
    if (t === undefined || t.commit === null) {
      return { name, health: t?.status === 'failed' ? 'failed' : 'unknown', commit: null, at: t?.at ?? null, error: t?.error };
    }
    const health: TargetHealth = t.status === 'failed' || t.attempted.length > 0 ? 'failed' : upToDate(t, current) ? 'ok' : 'behind';
    return { name, health, commit: t.commit, at: t.at, error: health === 'failed' ? (t.error ?? 'a deploy was cut short') : undefined };
  });
}
