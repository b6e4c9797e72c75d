/**
 * What one rewrite of fanout's journal costs on this machine at the size a farm made it: the state
 * as the journal writes it (JSON.stringify with indentation, then fanout's own writeAtomically:
 * write, fsync, rename, fsync of the directory), repeated on a copy beside it. fanout does this a
 * few times per deploy, and once per group of outcomes during its transfers (journal.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { writeAtomically } from '../../src/engine/journal.js';
import { median } from './stats.js';

export interface JournalCost {
  targets: number;
  bytes: number;
  /** median of the rewrites, ms */
  rewriteMs: number;
}

/** The state with `count` targets: its first ones, or its own entries again under new names for a bigger farm than the lab's. */
function resized(state: { targets?: Record<string, unknown> }, count: number): { targets: Record<string, unknown> } {
  const entries = Object.entries(state.targets ?? {});
  if (entries.length === 0) return { ...state, targets: {} };
  return { ...state, targets: Object.fromEntries(Array.from({ length: count }, (_, i) => [`t${i + 1}`, entries[i % entries.length]?.[1]])) };
}

/** One rewrite of the journal as it would be with `targets` targets (default: as it is), the median of `times`. */
export function journalRewrite(stateDir: string, targets?: number, times = 21): JournalCost {
  const whole = JSON.parse(fs.readFileSync(path.join(stateDir, 'state.json'), 'utf8')) as { targets?: Record<string, unknown> };
  const state = targets === undefined ? whole : resized(whole, targets);
  const dir = fs.mkdtempSync(path.join(stateDir, 'rewrite-'));
  const samples: number[] = [];
  let bytes = 0;
  try {
    for (let i = 0; i < times; i += 1) {
      const started = performance.now();
      const text = `${JSON.stringify(state, null, 2)}\n`;
      writeAtomically(path.join(dir, 'state.json'), text);
      samples.push(performance.now() - started);
      bytes = Buffer.byteLength(text);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return { targets: Object.keys(state.targets ?? {}).length, bytes, rewriteMs: median(samples) };
}
