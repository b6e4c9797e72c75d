import path from 'node:path';
import type { Fail } from './config-schema.js';

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
  const metrics = top.metrics as { textfile?: unknown } | undefined;
  if (own.metrics === undefined && typeof metrics?.textfile === 'string') view.metrics = { ...metrics, textfile: metrics.textfile.replace(/\.prom$/, `-${name}.prom`) };
  return view;
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

/** What two stages may never share: a branch (which would a push deploy?), a source, a state directory, a target's dest. */
export interface StagePlaces {
  name: string;
  branch: string | undefined;
  source: string;
  stateDir: string;
  dests: readonly string[];
}

export function checkStagesApart(stages: readonly StagePlaces[], fail: Fail): void {
  const seen = new Map<string, string>();
  for (const stage of stages) {
    const claims: [string, string | undefined][] = [
      ['branch', stage.branch],
      ['source', stage.source],
      ['stateDir', stage.stateDir],
      ...stage.dests.map((dest): [string, string] => ['targets', dest]),
    ];
    for (const [field, value] of claims) {
      if (value === undefined) continue;
      const key = `${field}\0${value}`;
      const other = seen.get(key);
      if (other !== undefined && other !== stage.name) fail(`stages.${stage.name}.${field}`, `${JSON.stringify(value)} is stage ${other}'s too: each stage needs its own`);
      seen.set(key, stage.name);
    }
  }
}
