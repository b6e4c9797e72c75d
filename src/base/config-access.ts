import fs from 'node:fs';
import path from 'node:path';
import { FanoutError, errorMessage } from './errors.js';
import { currentUid, trustProblem, userName } from './trust.js';

// Why the config cannot be used, in the operator's words, with the command that fixes it: the
// account it belongs to (run fanout as that account), every place looked at when there is none,
// and what sudo does to FANOUT_CONFIG. The lines are built by pure functions from plain facts;
// the facts (owners, modes) are gathered here too, where the failure is understood.

/** How the config's path was chosen, and the command line that chose it. */
export interface ConfigOrigin {
  file: string;
  /** named by --config or $FANOUT_CONFIG, found by looking (search), or given by the caller (named) */
  by: '--config' | '$FANOUT_CONFIG' | 'search' | 'named';
  /** with search: the places looked at, in order (the last is `file`, or none was there) */
  looked: readonly string[];
  /** the words after `fanout` on the command line, to show the command that reruns it */
  args: readonly string[];
}

/** A config path handed over by a caller that did not search for it. */
export function namedConfig(file: string): ConfigOrigin {
  return { file, by: 'named', looked: [], args: ['...'] };
}

/** A file or directory fanout could not get past: whose it is and its mode. */
export interface Blocker {
  path: string;
  owner: string;
  mode: number;
  isDir: boolean;
}

/** A word as a shell would need it typed (for a line to copy, never to run: exec takes arrays). */
function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The same fanout command as `owner`; sudo drops FANOUT_CONFIG, so a config named by it is named by --config. */
export function rerunAs(owner: string, origin: ConfigOrigin): string {
  const config = origin.by === '$FANOUT_CONFIG' ? ['--config', origin.file] : [];
  return ['sudo', '-u', owner, 'fanout', ...origin.args, ...config].map(shellWord).join(' ');
}

/** No config where fanout looked: every place, in order, and how to name one. */
export function missingConfigLine(origin: ConfigOrigin): string {
  const init = origin.by === '--config' || origin.by === 'named' ? `fanout init --config ${shellWord(origin.file)}` : 'fanout init';
  if (origin.by !== 'search') {
    const named = origin.by === 'named' ? '' : ` (named by ${origin.by})`;
    return `config ${origin.file}${named} does not exist: create one with "${init}", or name the right one with --config FILE`;
  }
  const places = ['--config (not given)', '$FANOUT_CONFIG (not set)', ...origin.looked].join(', ');
  return `no config found; looked at, in order: ${places}; name one with --config FILE (sudo drops FANOUT_CONFIG: pass --config, or sudo --preserve-env=FANOUT_CONFIG), or create one with "${init}"`;
}

/** A config this user cannot read or reach: whose the file (or the directory in the way) is, and what to run. */
export function unreadableConfigLine(origin: ConfigOrigin, user: string, blocker: Blocker): string {
  const mode = `mode ${blocker.mode.toString(8)}`;
  const what = blocker.isDir ? `cannot be reached: ${user} may not enter ${blocker.path} (it belongs to ${blocker.owner}, ${mode})` : `exists, but ${user} cannot read it (it belongs to ${blocker.owner}, ${mode})`;
  const fix = blocker.owner === user ? `chmod u+${blocker.isDir ? 'x' : 'r'} ${shellWord(blocker.path)}` : blocker.owner !== 'root' ? `run fanout as its owner: ${rerunAs(blocker.owner, origin)}` : blocker.isDir ? `as root: chmod o+x ${shellWord(blocker.path)}` : `as root: chown ${user} ${shellWord(blocker.path)}`;
  return `config ${origin.file} ${what}; ${fix}`;
}

/** A config that belongs to another account: the trust check's finding, and the command that runs fanout as that account. */
export function untrustedConfigLine(origin: ConfigOrigin, problem: string, foreignOwner: string | undefined): string {
  const how = foreignOwner === undefined ? '' : `; run fanout as its owner instead: ${rerunAs(foreignOwner, origin)}`;
  return `config ${origin.file}: ${problem}; refusing to use it (whoever can write it decides what fanout runs)${how}`;
}

/** A password file this user cannot read (rsync would fail on it at every target): whose it is, and the chown or chmod. */
export function unreadablePasswordLine(file: string, user: string, owner: string, mode: number): string {
  const fix = owner === user ? `chmod 600 ${shellWord(file)}` : `as root, chown ${user} ${shellWord(file)}`;
  return `${file} belongs to ${owner} (mode ${mode.toString(8)}), so ${user}, who runs fanout, cannot read it: ${fix}`;
}

/** The owner's name when the file (its symlink's target) belongs to neither this user nor root. */
function foreignOwner(file: string): string | undefined {
  try {
    const uid = fs.statSync(file).uid;
    return uid === currentUid() || uid === 0 ? undefined : userName(uid);
  } catch {
    return undefined;
  }
}

/** Refuse a config someone else could have written (see trust.ts); one line, exit 2. */
export function assertConfigTrusted(origin: ConfigOrigin): void {
  const problem = trustProblem(origin.file);
  if (problem !== undefined) throw new FanoutError(untrustedConfigLine(origin, problem, foreignOwner(origin.file)));
}

/** The file itself if it can be looked at, else the nearest directory above it that can: the one in the way. */
function blockerOf(file: string): Blocker | undefined {
  for (let p = file; ; p = path.dirname(p)) {
    try {
      const st = fs.statSync(p);
      return { path: p, owner: userName(st.uid), mode: st.mode & 0o7777, isDir: p !== file };
    } catch {
      if (p === path.dirname(p)) return undefined;
    }
  }
}

/** The line for a config that could not be read: missing, unreadable, out of reach, or anything else. */
export function configReadFailure(origin: ConfigOrigin, error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return missingConfigLine(origin);
  const blocker = code === 'EACCES' ? blockerOf(origin.file) : undefined;
  if (blocker !== undefined) return unreadableConfigLine(origin, userName(currentUid()), blocker);
  return `config ${origin.file}: cannot read it (${errorMessage(error)})`;
}
