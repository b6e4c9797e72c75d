import { describe, expect, it } from 'vitest';
import { helpCompletions, targetWord } from '../../../src/cli/completion.js';

// what bash's completion function passes: `fanout --get-yargs-completions` and the words typed,
// the command's own name first
const typed = (...words: string[]): string[] => ['--get-yargs-completions', 'fanout', ...words];

describe('the word completed after --target', () => {
  it('is the word after --target, as yargs passes it', () => {
    expect(targetWord(typed('deploy', '--target', 'we'), 'we')).toEqual({ prefix: 'we', whole: false, configFile: undefined });
    expect(targetWord(typed('deploy', '--target', ''), '')).toEqual({ prefix: '', whole: false, configFile: undefined });
  });

  it('is no target word anywhere else', () => {
    expect(targetWord(typed(''), '')).toBeUndefined();
    expect(targetWord(typed('deploy', '--'), '--')).toBeUndefined();
    expect(targetWord(typed('--target', 'web1', 'deploy', ''), '')).toBeUndefined();
  });

  it('joins what bash split at "=" (COMP_WORDBREAKS), and completes only the part after it', () => {
    expect(targetWord(typed('--config', '=', '/etc/f.yaml', 'sync', '--target', '=', 'we'), 'we')).toEqual({ prefix: 'we', whole: false, configFile: '/etc/f.yaml' });
  });

  it('completes `--target=NAME` whole when the shell passes it whole (zsh)', () => {
    expect(targetWord(typed('--config=/etc/f.yaml', 'deploy', '--target=we'), '--target=we')).toEqual({ prefix: 'we', whole: true, configFile: '/etc/f.yaml' });
  });

  it('reads --config FILE wherever it stands', () => {
    expect(targetWord(typed('deploy', '--config', 'site.yaml', '--target', 'e'), 'e')?.configFile).toBe('site.yaml');
  });
});

describe('the word completed after help', () => {
  const commands = ['deploy', 'doctor', 'watch'];
  it('is a command', () => {
    expect(helpCompletions(typed('help', ''), '', commands)).toEqual(commands);
    expect(helpCompletions(typed('help', 'd'), 'd', commands)).toEqual(['deploy', 'doctor']);
  });

  it('is no command anywhere else', () => {
    expect(helpCompletions(typed('deploy', ''), '', commands)).toBeUndefined();
    expect(helpCompletions(typed('help', 'deploy', ''), '', commands)).toBeUndefined();
  });
});
