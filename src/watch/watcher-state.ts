import path from 'node:path';
import { readOwnFile, writeAtomically } from '../engine/journal.js';

/**
 * What `fanout watch` last said of itself, for `fanout status`: watching, degraded (a directory it
 * could not watch), failing to set its watches up (the inotify limit), stopped, or failed for
 * good. Kept beside the journal.
 */
export interface WatchState {
  pid: number;
  state: 'watching' | 'degraded' | 'failing' | 'stopped' | 'failed';
  since: string;
  message?: string;
}

const FILE = 'watch.json';

export function writeWatchState(stateDir: string, state: WatchState): void {
  writeAtomically(path.join(stateDir, FILE), `${JSON.stringify(state)}\n`);
}

export function readWatchState(stateDir: string): WatchState | undefined {
  try {
    const state = JSON.parse(readOwnFile(path.join(stateDir, FILE)) ?? 'null') as WatchState | null;
    if (state === null) return undefined;
    return typeof state.pid === 'number' && typeof state.state === 'string' ? state : undefined;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The line `fanout status` shows for watch, and whether it is a failure; undefined when watch never
 * ran. `time` writes watch's `since` as status writes its other times (cli/print.ts's `when`).
 */
export function watchStatusLine(state: WatchState | undefined, time: (iso: string) => string): { line: string; failing: boolean } | undefined {
  if (state === undefined) return undefined;
  const since = time(state.since);
  const running = alive(state.pid);
  switch (state.state) {
    case 'watching':
      return running ? { line: `watch: watching since ${since} (pid ${state.pid})`, failing: false } : { line: `watch: not running (pid ${state.pid} ended without stopping; was watching since ${since})`, failing: true };
    case 'degraded':
      return running ? { line: `watch: DEGRADED since ${since}: ${state.message ?? ''}`, failing: true } : { line: `watch: not running (pid ${state.pid} ended without stopping)`, failing: true };
    case 'failing':
      return running ? { line: `watch: FAILING since ${since}: ${state.message ?? ''}`, failing: true } : { line: `watch: not running (it failed at ${since}: ${state.message ?? ''})`, failing: true };
    case 'failed':
      return { line: `watch: not running (it failed at ${since}: ${state.message ?? ''})`, failing: true };
    case 'stopped':
      return { line: `watch: stopped at ${since}`, failing: false };
  }
}
