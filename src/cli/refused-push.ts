import fs from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { errorMessage } from '../base/errors.js';
import { commitInfo, ZERO_COMMIT, type Commit } from '../base/git.js';
import { openLog } from '../base/log.js';
import { trustProblem } from '../base/trust.js';
import { historyEntry, recordRefusal } from '../deploy/record.js';
import { Journal } from '../engine/journal.js';
import { acquireLock } from '../engine/lock.js';
import type { PushedRef } from './commands/post-receive.js';
import { stageView } from '../base/config-stages.js';

/**
 * A push whose config cannot be loaded deploys nothing; its pusher has seen why. Without a config
 * there is no state directory to record it in, so it is looked for the way the config would have
 * said: the `stateDir` (else `<repo>/fanout`) its text names when it is fanout's own and still YAML
 * (a config that fails one check), else the repository's default `<repo>/fanout` (the repository
 * the hook runs in). Only a directory that exists already is written: the farm's own history,
 * never one a broken config invents.
 */
export interface RefusalPlace {
  stateDir: string;
  /** the branch the config deploys, when its text says (else any branch pushed) */
  branch: string | undefined;
}

/**
 * Where a refused push is recorded, from the config's text (undefined: unreadable, or not fanout's
 * own) and the repository the hook runs in; with stages, the stage whose branch the push moved. Pure.
 */
export function refusalPlace(text: string | undefined, file: string, repoDir: string, refs: readonly PushedRef[] = []): RefusalPlace {
  const fallback: RefusalPlace = { stateDir: path.join(repoDir, 'fanout'), branch: undefined };
  if (text === undefined) return fallback;
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch {
    return fallback;
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return fallback;
  const field = (name: string): string | undefined => {
    const value = (raw as Record<string, unknown>)[name];
    return typeof value === 'string' && value !== '' ? value : undefined;
  };
  const abs = (p: string): string => path.resolve(path.dirname(file), p);
  const stage = pushedStage(raw, refs);
  if (stage !== undefined) return { stateDir: abs(stage.stateDir), branch: stage.branch };
  const stateDir = field('stateDir');
  const repo = field('repo');
  return { stateDir: stateDir !== undefined ? abs(stateDir) : path.join(repo !== undefined ? abs(repo) : repoDir, 'fanout'), branch: field('branch') };
}

/** With stages: the one whose branch a pushed ref moved, its state directory as the stage would name it. */
function pushedStage(raw: object, refs: readonly PushedRef[]): { stateDir: string; branch: string } | undefined {
  const stages = (raw as { stages?: unknown }).stages;
  if (stages === null || typeof stages !== 'object' || Array.isArray(stages)) return undefined;
  for (const name of Object.keys(stages)) {
    const view = stageView(raw, name);
    if (typeof view.branch === 'string' && typeof view.stateDir === 'string' && refs.some((r) => r.ref === `refs/heads/${view.branch as string}`)) return { stateDir: view.stateDir, branch: view.branch };
  }
  return undefined;
}

/** The commit a refused push asked for: the configured branch's new tip, else (branch unknown) the first branch pushed; none for deletions. */
export function refusedCommit(refs: readonly PushedRef[], branch: string | undefined): Commit | undefined {
  const wanted = refs.filter((r) => (branch === undefined ? r.ref.startsWith('refs/heads/') : r.ref === `refs/heads/${branch}`));
  const pushed = wanted.find((r) => !ZERO_COMMIT.test(r.newCommit) && /^[0-9a-f]{40}([0-9a-f]{24})?$/.test(r.newCommit));
  return pushed?.newCommit as Commit | undefined;
}

/** How long a refusal waits for a deploy in progress to record itself after it; past that, the log alone has it. */
const LOCK_WAIT_SECONDS = 60;

/**
 * Record a push refused because its config could not be loaded: a log line, and under the deploy
 * lock a refused entry in the history (and the journal's note for status). Returns a warning for
 * the pusher when a state directory was found and could not be written; nothing when none was found.
 */
export async function recordRefusedPush(configFile: string, refs: readonly PushedRef[], why: string, startedBy: string, repoDir: string): Promise<string | undefined> {
  const place = refusalPlace(readIfOwn(configFile), configFile, repoDir, refs);
  const commit = refusedCommit(refs, place.branch);
  if (commit === undefined || !isDirectory(place.stateDir)) return undefined;
  const at = new Date();
  try {
    const log = openLog(place.stateDir);
    log.warn({ commit, reason: 'push', startedBy, refused: why, config: configFile }, 'push refused: the config cannot be loaded');
    const lock = await acquireLock(place.stateDir, LOCK_WAIT_SECONDS, `a refused push by ${startedBy}`, log, {
      onWait: (holder) => {
        process.stderr.write(`fanout: waiting for the deploy in progress (${holder}) to record this refusal in the history\n`);
      },
    });
    try {
      const journal = Journal.open(place.stateDir);
      const subject = await commitInfo(repoDir, commit).then((info) => info.subject, () => '');
      const started = { id: journal.state.nextDeployId, at, subject, request: { revision: { kind: 'tip' as const }, reason: 'push' as const, startedBy }, build: undefined };
      await recordRefusal(journal, { ...historyEntry(started, commit, []), refused: why });
    } finally {
      lock.release();
    }
    return undefined;
  } catch (error) {
    return `this refusal is not in the history of ${place.stateDir}: ${errorMessage(error)}`;
  }
}

/** The config's text when fanout may believe it (its own, no one else may write it); else undefined. */
function readIfOwn(file: string): string | undefined {
  try {
    return trustProblem(file) === undefined ? fs.readFileSync(file, 'utf8') : undefined;
  } catch {
    return undefined;
  }
}

function isDirectory(dir: string): boolean {
  try {
    return fs.lstatSync(dir).isDirectory();
  } catch {
    return false;
  }
}
