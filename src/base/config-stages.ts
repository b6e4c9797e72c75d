import path from 'node:path';
import type { Fail } from './config-schema.js';
import type { Dest } from './dest.js';

// stages: one repository, several farms (staging, production). Each stage is the top-level config
// with the stage's own fields over it, read as a whole config of its own: its branch (or none: it
// is promoted into), targets, layout, rollout and checks, and its own state directory, source,
// lock, history, log and metrics. Nothing here resolves a path or reads a file.

/** What a stage may not say: the repository and the push mode are the update server's, one for all. */
const SHARED_ONLY = ['repo', 'push', 'stages', 'page'] as const;

const STAGE_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/;

/** The stages a config's YAML names, in its order; undefined when it has none (a single farm, as before stages). */
export function stageNames(raw: object, fail: Fail): string[] | undefined {
  const stages = (raw as Record<string, unknown>).stages;
  if (stages === undefined) return undefined;
  if (stages === null || typeof stages !== 'object' || Array.isArray(stages)) return fail('stages', 'a mapping of stage names to their fields (staging: {...}, production: {...})');
  const names = Object.keys(stages);
  if (names.length === 0) return fail('stages', 'names no stage: remove it, or name at least one');
  for (const name of names) {
    if (!STAGE_NAME.test(name)) fail(`stages.${name}`, 'a stage name is 1 to 32 letters, digits, "_" and "-", starting with a letter or a digit');
    const fields = (stages as Record<string, unknown>)[name];
    if (fields === null || typeof fields !== 'object' || Array.isArray(fields)) fail(`stages.${name}`, 'a mapping of the fields this stage sets (branch, targets, ...)');
    const shared = SHARED_ONLY.find((key) => key in fields);
    if (shared !== undefined) fail(`stages.${name}.${shared}`, `is the update server's, set once at the top for every stage`);
  }
  if ('branch' in raw) fail('branch', 'with stages, each stage names its own branch (stages.NAME.branch); a stage without one is deployed by fanout promote');
  return names;
}

/**
 * One stage's config as a whole config: the top level, the stage's fields over it. What must
 * differ between stages follows the stage's name unless it says otherwise: its state directory
 * (`<stateDir>/<name>`, by default `<repo>/fanout/<name>`), its source (`<source>/<name>`) and its
 * metrics textfile (`fanout-<name>.prom` beside the top level's).
 */
export function stageView(raw: object, name: string): Record<string, unknown> {
  const top = { ...(raw as Record<string, unknown>) };
  delete top.stages;
  const own = ((raw as { stages: Record<string, Record<string, unknown>> }).stages[name] ?? {});
  const view: Record<string, unknown> = { ...top, ...own };
  if (own.stateDir === undefined) view.stateDir = typeof top.stateDir === 'string' ? path.join(top.stateDir, name) : path.join(typeof top.repo === 'string' ? top.repo : '.', 'fanout', name);
  if (own.source === undefined && typeof top.source === 'string') view.source = path.join(top.source, name);
  view.metrics = stageMetrics(top.metrics, own.metrics, name);
  return view;
}

/** The stage's metrics over the top level's, field by field; the textfile, unless the stage names one, `-<name>` before `.prom`. */
function stageMetrics(top: unknown, own: unknown, name: string): unknown {
  const isFields = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);
  // what is not a mapping is left for the schema to refuse, naming it
  if (own !== undefined && !isFields(own)) return own;
  if (top !== undefined && !isFields(top)) return top;
  if (top === undefined && own === undefined) return undefined;
  const merged: Record<string, unknown> = { ...top, ...own };
  if (own?.textfile === undefined && typeof top?.textfile === 'string') merged.textfile = top.textfile.replace(/\.prom$/, `-${name}.prom`);
  return merged;
}

/**
 * A problem in a stage's config names the field where it was written: `stages.staging.targets[0]`
 * for one the stage set, the top-level field for one it inherited.
 */
export function failInStage(fail: Fail, raw: object, name: string): Fail {
  const own = (raw as { stages: Record<string, Record<string, unknown>> }).stages[name] ?? {};
  return (where, why) => {
    const top = /^[A-Za-z]+/.exec(where)?.[0];
    if (top !== undefined && top in own) return fail(`stages.${name}.${where}`, why);
    return fail(where, `${why} (in stage ${name})`);
  };
}

/** What two stages may never share: a branch (which would a push deploy?), a metrics textfile, or a place one writes (see placeOf). */
export interface StagePlaces {
  name: string;
  branch: string | undefined;
  textfile: string | undefined;
  /** the directories the stage writes, as placeOf names them, with the field each is in */
  places: readonly { field: string; place: string }[];
}

/**
 * Where a stage writes, as one comparable name: a directory on this machine (its source, its state
 * directory, a local target), or on a host (an ssh or daemon target): the host lowercased, the user
 * left out (another user writes the same files), the daemon's port filled in, the path without
 * doubled or trailing slashes.
 */
export function placeOf(dest: Dest): string {
  const clean = (p: string): string => path.posix.normalize(`/${p}`).replace(/\/+$/, '') || '/';
  switch (dest.kind) {
    case 'local':
      return `local:${clean(dest.path)}`;
    case 'ssh':
      // a relative ssh path is in the login's home: the user is part of where it is
      return `ssh:${dest.host.toLowerCase()}:${dest.path.startsWith('/') ? '' : `~${dest.user ?? ''}/`}${clean(dest.path)}`;
    case 'daemon':
      return `rsync:${dest.host.toLowerCase()}:${dest.port ?? 873}/${dest.module}${clean(dest.path)}`;
  }
}

export function checkStagesApart(stages: readonly StagePlaces[], fail: Fail): void {
  for (const [i, stage] of stages.entries()) {
    for (const other of stages.slice(0, i)) {
      if (stage.branch !== undefined && stage.branch === other.branch) fail(`stages.${stage.name}.branch`, `"${stage.branch}" is stage ${other.name}'s too: each stage needs its own`);
      if (stage.textfile !== undefined && stage.textfile === other.textfile) fail(`stages.${stage.name}.metrics.textfile`, `"${stage.textfile}" is stage ${other.name}'s too: each stage needs its own`);
      for (const mine of stage.places) {
        const theirs = other.places.find((p) => within(mine.place, p.place) || within(p.place, mine.place));
        if (theirs !== undefined) fail(`stages.${stage.name}.${mine.field}`, `${shown(mine.place)} ${mine.place === theirs.place ? 'is' : 'overlaps'} stage ${other.name}'s ${theirs.field} (${shown(theirs.place)}): a stage's deploys would write into the other's; each stage needs places of its own`);
      }
    }
  }
}

/** `inner` is `outer` or a directory inside it. */
function within(inner: string, outer: string): boolean {
  return inner === outer || inner.startsWith(outer.endsWith('/') ? outer : `${outer}/`);
}

function shown(place: string): string {
  return JSON.stringify(place.replace(/^local:/, ''));
}
