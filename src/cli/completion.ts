import { loadStages } from '../base/config.js';
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
  return optionWord(argv, current, '--target');
}

/** The word after `option` (--target, --stage) being completed, and the --config and --stage the same line names. */
function optionWord(argv: readonly string[], current: string, option: string): (TargetWord & { stage: string | undefined }) | undefined {
  // bash splits `--target=we` into `--target`, `=`, `we` (COMP_WORDBREAKS) and completes the
  // last part; zsh passes the word whole and completes the whole word
  const given = argv.slice(argv.indexOf('--get-yargs-completions') + 1);
  const whole = given.at(-1)?.startsWith(`${option}=`) === true;
  const words = given.join('\0').replace(/\0=\0/g, '=').split('\0');
  const last = words.at(-1) ?? '';
  const prefix = last.startsWith(`${option}=`) ? last.slice(option.length + 1) : words.at(-2) === option ? current : undefined;
  if (prefix === undefined) return undefined;
  const valueOf = (name: string): string | undefined => {
    const at = words.slice(0, -1).findIndex((w) => w === name || w.startsWith(`${name}=`));
    return at === -1 ? undefined : words[at]?.startsWith(`${name}=`) === true ? words[at]?.slice(name.length + 1) : words[at + 1];
  };
  return { prefix, whole, configFile: valueOf('--config'), stage: valueOf('--stage') };
}

/**
 * Completing the word after `--target` or `--stage`: the names of the targets (of the --stage on
 * the line, else of every stage) or of the stages, in the config the words name (`--config FILE`,
 * else where fanout looks); none when it cannot be read; undefined for any other word.
 */
export function targetCompletions(argv: readonly string[], current: string): string[] | undefined {
  for (const option of ['--target', '--stage'] as const) {
    const word = optionWord(argv, current, option);
    if (word === undefined) continue;
    let names: string[];
    try {
      const stages = loadStages(configPath(word.configFile)).filter((c) => option === '--stage' || word.stage === undefined || c.stage === word.stage);
      names = option === '--stage' ? stages.map((c) => c.stage ?? '').filter((n) => n !== '') : [...new Set(stages.flatMap((c) => c.targets.map((t) => t.name)))];
    } catch {
      return [];
    }
    return names.filter((name) => name.startsWith(word.prefix)).map((name) => (word.whole ? `${option}=${name}` : name));
  }
  return undefined;
}

/** Completing the word after `help`: the commands' names; undefined for any other word. */
export function helpCompletions(argv: readonly string[], current: string, commands: readonly string[]): string[] | undefined {
  const given = argv.slice(argv.indexOf('--get-yargs-completions') + 1);
  if (given.at(-2) !== 'help') return undefined;
  return commands.filter((name) => name.startsWith(current));
}

/**
 * yargs' completion function for this command line (zsh's script, and bash's for the target names):
 * after --target, the config's target names; after help, the commands; else yargs' own words.
 */
export function completer(argv: readonly string[], commands: readonly string[]) {
  return (current: string, _argv: unknown, completeByDefault: () => void, done: (completions: string[]) => void): void => {
    const names = targetCompletions(argv, current) ?? helpCompletions(argv, current, commands);
    if (names === undefined) completeByDefault();
    else done(names);
  };
}

/** What the bash script `fanout completion` writes knows without asking fanout. */
export interface CompletionWords {
  /** the commands, in the order of fanout --help */
  commands: string[];
  /** the options every command takes (--help and --version among them) */
  global: string[];
  /** each command's own options, beside the global ones */
  options: Record<string, string[]>;
  /** the words a command's first positional takes (help: the commands; hook: its hooks) */
  positionals: Record<string, string[]>;
  /** the options that take a value: the word after them is no command */
  valued: string[];
}

/** A list of words as one single-quoted shell word (the words themselves hold no quote). */
function words(list: readonly string[]): string {
  return `'${list.join(' ')}'`;
}

/** The `case` arms that set `words` for each command that has its own words. */
function arms(table: Record<string, string[]>, extra: readonly string[], indent: string): string {
  return Object.entries(table)
    .map(([name, list]) => `${indent}${name}) words=${words([...extra, ...list])} ;;`)
    .join('\n');
}

/** The part of the bash script that finds the command on the line, given the options that take a value. */
const FIND_COMMAND = `    # the command: the first word that is neither an option nor an option's value
    for ((i = 1; i <= at; i++)); do
        word=\${COMP_WORDS[i]}
        if [[ $word == -* ]]; then
            if [[ $valued == *" $word "* ]]; then
                i=$((i + 1))
                [[ \${COMP_WORDS[i]} == '=' ]] && i=$((i + 1))
            fi
        elif [[ $word != '=' ]]; then
            command=$word
            break
        fi
    done
`;

/**
 * The bash completion script: the commands, their options and their positionals' words are in it,
 * so a Tab starts no Node; only the names after --target and --stage (which are in the config) ask fanout.
 */
export function bashCompletionScript(w: CompletionWords, version: string): string {
  return `###-begin-fanout-completions-###
#
# bash completion, written by \`fanout completion\` of ${version}.
# The commands and the options are in this script, so a Tab needs no Node; only the names after
# --target and --stage ask fanout (they are in the config). Install: fanout completion >> ~/.bashrc
# (and again after an upgrade, for the new commands and options).
#
_fanout_completions()
{
    local cur=\${COMP_WORDS[COMP_CWORD]} at=$((COMP_CWORD - 1)) command='' word='' words='' i
    local valued=' ${w.valued.join(' ')} '
    # bash splits --target=we at the "=" (COMP_WORDBREAKS): the option is the word before it
    if [[ $cur == '=' ]]; then
        cur=''
    elif [[ \${COMP_WORDS[at]} == '=' ]]; then
        at=$((at - 1))
    fi
${FIND_COMMAND}    case \${COMP_WORDS[at]} in
        --target|--stage)
            # the targets' and stages' names are in the config (the --config on the line, else fanout's own)
            words=$(fanout --get-yargs-completions "\${COMP_WORDS[@]:0:at+1}" '' 2>/dev/null) ;;
        ${w.valued.filter((o) => o !== '--target' && o !== '--stage').join('|')})
            # a file or a value: bash's own completion (complete -o default)
            COMPREPLY=()
            return 0 ;;
        *)
            if [[ -z $command ]]; then
                if [[ $cur == -* ]]; then words=${words(w.global)}; else words=${words(w.commands)}; fi
            else
                # the word right after the command: its positional's words, if it has any
                if [[ $cur != -* && \${COMP_WORDS[at]} == "$command" ]]; then
                    case $command in
${arms(w.positionals, [], '                        ')}
                    esac
                fi
                if [[ -z $words ]]; then
                    case $command in
${arms(w.options, w.global, '                        ')}
                        *) words=${words(w.global)} ;;
                    esac
                fi
            fi ;;
    esac
    mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
    return 0
}
complete -o bashdefault -o default -F _fanout_completions fanout
###-end-fanout-completions-###
`;
}
