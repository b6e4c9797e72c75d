import fs from 'node:fs';
import path from 'node:path';
import { FanoutError, Refusal } from '../base/errors.js';
import { writeAtomically } from './journal.js';

// The deploy lock an operator takes (`fanout lock -m "why"`): during an incident or a freeze no
// push or deploy goes out by accident, and whoever tries is told why, by whom and since when. It
// is not the deploy mutex (lock.ts), which a running deploy holds and the kernel drops: this one
// is a file in the state directory, so it outlives reboots and crashes, and only `fanout unlock`
// removes it. No deploy ever writes it, so a crashed deploy cannot leave one.

export interface Freeze {
  /** who took it (deploy/identity.ts: the person, and the account) */
  by: string;
  /** why, in their words: one line */
  reason: string;
  /** ISO time it was taken */
  since: string;
}

function freezeFile(stateDir: string): string {
  return path.join(stateDir, 'deploy-lock.json');
}

/** The lock, if one is taken; one whose file cannot be read is an error, never "not locked". */
export function readFreeze(stateDir: string): Freeze | undefined {
  let text: string;
  try {
    text = fs.readFileSync(freezeFile(stateDir), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new FanoutError(`cannot read the deploy lock ${freezeFile(stateDir)}: ${(error as Error).message}`, 1);
  }
  try {
    const parsed = JSON.parse(text) as Record<string, unknown>;
    const field = (name: keyof Freeze, otherwise: string): string => (typeof parsed[name] === 'string' ? parsed[name] : otherwise);
    return { by: field('by', 'unknown'), reason: field('reason', ''), since: field('since', '') };
  } catch {
    // a torn or edited file still locks: refusing is the safe reading of a lock that cannot be read
    return { by: 'unknown', reason: `the deploy lock file ${freezeFile(stateDir)} is not valid JSON (fanout unlock removes it)`, since: '' };
  }
}

export function writeFreeze(stateDir: string, freeze: Freeze): void {
  writeAtomically(freezeFile(stateDir), `${JSON.stringify(freeze)}\n`);
}

/** Lifts the lock; false when there was none. */
export function removeFreeze(stateDir: string): boolean {
  try {
    fs.rmSync(freezeFile(stateDir));
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

/** "locked by alice (git) since 2026-12-06 10:00 UTC: incident 42" */
export function describeFreeze(freeze: Freeze): string {
  const since = freeze.since === '' ? '' : ` since ${freeze.since.replace('T', ' ').replace(/\.\d+Z$/, ' UTC').replace(/Z$/, ' UTC')}`;
  return `locked by ${freeze.by}${since}: ${freeze.reason}`;
}

/** The refusal of a deploy while the lock is taken: nothing is touched, and the deployer learns how to go through. */
export function frozenRefusal(freeze: Freeze, what: string): Refusal {
  return new Refusal(`deploys are ${describeFreeze(freeze)}; ${what} was not deployed, nothing was touched (fanout unlock lifts the lock; fanout deploy --override-lock goes through it, and is recorded)`, 1);
}
