import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI } from '../../../harness/farm.js';

// `fanout completion` as bash runs it: the script it prints is sourced by a real bash, which finds
// the words through the script's own function, as when the user presses Tab: the commands and the
// options in the script itself, the target names from fanout (each run of fanout logged, to tell).

let dir: string;
let configFile: string;
let script: string;
let runs: string;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fanout-completion-'));
  configFile = path.join(dir, 'fanout.yaml');
  fs.writeFileSync(configFile, ['repo: /srv/git/site.git', 'source: /data/www', 'targets:', '  - { name: web1, dest: /srv/www1/ }', '  - { name: web2, dest: /srv/www2/ }', '  - { name: edge, dest: /srv/edge/ }', ''].join('\n'));
  script = (await execa(process.execPath, [CLI, 'completion'], { env: { SHELL: '/bin/bash' } })).stdout;
  // the script runs `fanout` from the PATH, as installed; each run leaves a line in `runs`
  runs = path.join(dir, 'runs');
  fs.mkdirSync(path.join(dir, 'bin'));
  fs.writeFileSync(path.join(dir, 'bin', 'fanout'), `#!/bin/sh\necho "$*" >> ${runs}\nexec ${process.execPath} ${CLI} "$@"\n`, { mode: 0o755 });
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** What bash offers for these words, the last being the one being completed. */
async function complete(...words: string[]): Promise<string[]> {
  const quoted = words.map((w) => `'${w.replace(/'/g, `'\\''`)}'`).join(' ');
  const run = `${script}\nCOMP_WORDS=(fanout ${quoted}); COMP_CWORD=${words.length}; _fanout_completions; printf '%s\\n' "\${COMPREPLY[@]}"`;
  const result = await execa('bash', ['--norc', '--noprofile', '-c', run], { env: { PATH: `${path.join(dir, 'bin')}:/usr/bin:/bin`, HOME: dir }, extendEnv: false, stdin: 'ignore' });
  return result.stdout.split('\n').filter((l) => l !== '').sort();
}

describe('fanout completion', () => {
  it('prints a bash script that holds the commands and options, and asks fanout only for target names', () => {
    expect(script).toMatch(/complete -o bashdefault -o default -F _fanout_completions fanout/);
    expect(script).toContain("'init hook deploy rollback promote lock unlock status history log sync verify watch doctor help completion'");
    expect(script.match(/--get-yargs-completions/g)).toHaveLength(1);
  });

  it('completes the commands, each command\'s options and help\'s command without starting fanout', async () => {
    fs.rmSync(runs, { force: true });
    expect(await complete('')).toEqual(['completion', 'deploy', 'doctor', 'help', 'history', 'hook', 'init', 'lock', 'log', 'promote', 'rollback', 'status', 'sync', 'unlock', 'verify', 'watch']);
    expect(await complete('ro')).toEqual(['rollback']);
    const options = await complete('deploy', '--');
    expect(options).toEqual(expect.arrayContaining(['--full', '--target', '--max-delete', '--dry-run', '--config']));
    expect(options).not.toContain('--all-slots');
    expect(await complete('verify', '--a')).toEqual(['--all-slots']);
    expect(await complete('status', '--')).not.toContain('--dry-run');
    expect(await complete('help', '')).toEqual(await complete(''));
    expect(await complete('help', 'd')).toEqual(['deploy', 'doctor']);
    expect(await complete('--verbose', 'help', 'w')).toEqual(['watch']);
    expect(await complete('hook', '')).toEqual(['post-receive', 'pre-receive']);
    // the command is found past the options and their values, split at "=" or not
    expect(await complete('--config', configFile, 'verify', '--a')).toEqual(['--all-slots']);
    expect(await complete('--config', '=', configFile, '--target', '=', 'web1', 'help', 'sy')).toEqual(['sync']);
    // a file after --config: bash's own file names (complete -o default), no words of fanout's
    expect(await complete('--config', '')).toEqual([]);
    expect(fs.existsSync(runs)).toBe(false);
  });

  it('completes help COMMAND from fanout too (the zsh script asks fanout for every word)', async () => {
    const help = await execa(process.execPath, [CLI, '--get-yargs-completions', 'fanout', 'help', 'd']);
    expect(help.stdout.split('\n').sort()).toEqual(['deploy', 'doctor']);
  });

  it('completes --target with the names of the targets in the config', async () => {
    fs.rmSync(runs, { force: true });
    expect(await complete('--config', configFile, 'deploy', '--target', '')).toEqual(['edge', 'web1', 'web2']);
    expect(fs.readFileSync(runs, 'utf8')).toBe(`--get-yargs-completions fanout --config ${configFile} deploy --target \n`);
    expect(await complete('--config', configFile, 'sync', '--target', 'we')).toEqual(['web1', 'web2']);
    // bash splits `--config=FILE` and `--target=we` at the "=" (COMP_WORDBREAKS); zsh does not
    expect(await complete('--config', '=', configFile, 'sync', '--target', '=', 'we')).toEqual(['web1', 'web2']);
    expect(await complete(`--config=${configFile}`, 'deploy', '--target', 'e')).toEqual(['edge']);
    expect(await complete('--config', configFile, 'deploy', '--target', '=')).toEqual(['edge', 'web1', 'web2']);
    // the word whole, as zsh passes it: the whole word is what is completed
    const zsh = await execa(process.execPath, [CLI, '--get-yargs-completions', 'fanout', '--config', configFile, 'deploy', '--target=we'], { env: { SHELL: '/bin/zsh' } });
    expect(zsh.stdout.split('\n').filter((l) => l !== '').sort()).toEqual(['--target=web1', '--target=web2']);
    // a config that cannot be read offers no names, and says nothing on the terminal
    expect(await complete('--config', path.join(dir, 'missing.yaml'), 'deploy', '--target', '')).toEqual([]);
  });
});
