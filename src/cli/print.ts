import { humanDuration } from '../engine/units.js';

/**
 * How the commands print what is not a deploy's report (engine/report.ts): one JSON document for
 * --json, a time and how long ago, a subject cut to its column.
 */

export function writeJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** 2026-11-24 05:22:08 UTC, and how long ago */
export function when(iso: string | null, now = Date.now()): string {
  if (iso === null) return '-';
  const at = new Date(iso);
  const ago = now - at.getTime();
  return `${at.toISOString().slice(0, 19).replace('T', ' ')} (${humanDuration(ago)} ago)`;
}

export function truncate(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, width - 1)}…`;
}
