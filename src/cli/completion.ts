import { loadConfig } from '../base/config.js';
import { configPath } from './session.js';

/** The word after `--target` being completed, and the --config the same command line names. */
export interface TargetWord {
  /** what is typed of the target's name so far */
  prefix: string;
  /** the word is `--target=NAME` whole (zsh), so the completions are too */
  whole: boolean;
  /** --config FILE or --config=FILE, if given */
  configFile: string | undefined;
}

/**
 * The word `fanout --get-yargs-completions WORDS...` completes, when it is a target's name;
 * undefined for any other word. `current` is the word as yargs passes it.
 */
export function targetWord(argv: readonly string[], current: string): TargetWord | undefined {
  // bash splits `--target=we` into `--target`, `=`, `we` (COMP_WORDBREAKS) and completes the
  // last part; zsh passes the word whole and completes the whole word
  const given = argv.slice(argv.indexOf('--get-yargs-completions') + 1);
  const whole = given.at(-1)?.startsWith('--target=') === true;
  const words = given.join('\0').replace(/\0=\0/g, '=').split('\0');
  const last = words.at(-1) ?? '';
  const prefix = last.startsWith('--target=') ? last.slice('--target='.length) : words.at(-2) === '--target' ? current : undefined;
  if (prefix === undefined) return undefined;
  const at = words.findIndex((w) => w === '--config' || w.startsWith('--config='));
  const configFile = at === -1 ? undefined : words[at]?.startsWith('--config=') === true ? words[at]?.slice('--config='.length) : words[at + 1];
  return { prefix, whole, configFile };
}

/**
 * Completing the word after `--target`: the names of the targets in the config the words name
 * (`--config FILE`, else where fanout looks), or none when it cannot be read; undefined for any
 * other word.
 */
export function targetCompletions(argv: readonly string[], current: string): string[] | undefined {
  const word = targetWord(argv, current);
  if (word === undefined) return undefined;
  try {
    const config = loadConfig(configPath(word.configFile));
    return config.targets
      .map((t) => t.name)
      .filter((name) => name.startsWith(word.prefix))
      .map((name) => (word.whole ? `--target=${name}` : name));
  } catch {
    return [];
  }
}

/** yargs' completion function for this command line: after --target, the config's target names; else yargs' own words, commands and options. */
export function completer(argv: readonly string[]) {
  return (current: string, _argv: unknown, completeByDefault: () => void, done: (completions: string[]) => void): void => {
    const names = targetCompletions(argv, current);
    if (names === undefined) completeByDefault();
    else done(names);
  };
}
