import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { trustProblem } from './trust.js';

/**
 * This installation of fanout, as `init` writes it into git's hook and `doctor` checks it: where it
 * lives, the hook it renders, and whether anyone else could change the code a push runs.
 */

/** The git hooks fanout installs: post-receive always, pre-receive with `push: pre-receive`. */
export type HookName = 'post-receive' | 'pre-receive';

/** The line that says fanout wrote a hook file (and may rewrite it). */
export function hookMarker(hook: HookName): string {
  return `fanout ${hook} hook`;
}

/**
 * The directory fanout is installed in (a checkout, or the package): the parent of dist/. Every
 * installation runs the bundle in dist/; only the tests run this file from src/base/.
 */
export function installRoot(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const fromSources = path.basename(here) === 'base' && path.basename(path.dirname(here)) === 'src';
  return path.resolve(here, fromSources ? '../..' : '..');
}

/** The built fanout: dist/, where the hook's cli.js and the chunks it loads are. */
function builtDir(): string {
  return path.join(installRoot(), 'dist');
}

/**
 * Why the fanout the hook runs could be changed by someone else, if it could: node, and each
 * file of this build (dist/), must belong to the user that runs it or root, with nothing above
 * them writable by others (`npm install -g` into a prefix a developer owns would hand that
 * developer every push).
 */
export function installationProblem(): string | undefined {
  const built = fs.readdirSync(builtDir()).filter((name) => name.endsWith('.js')).map((name) => path.join(builtDir(), name));
  for (const file of [process.execPath, ...built]) {
    const problem = trustProblem(file);
    if (problem !== undefined) return problem;
  }
  return undefined;
}

/** A hook from hooks/ with absolute paths, each single-quoted for sh. */
export function renderHook(configFile: string, hook: HookName = 'post-receive'): string {
  const template = fs.readFileSync(path.join(installRoot(), 'hooks', hook), 'utf8');
  return template
    .replace('@NODE@', shellQuote(process.execPath))
    .replace('@CLI@', shellQuote(path.join(builtDir(), 'cli.js')))
    .replace('@CONFIG@', shellQuote(configFile));
}

export function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}
