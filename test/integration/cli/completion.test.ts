import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI } from '../../../harness/farm.js';

// `fanout completion` as bash runs it: the script it prints is sourced by a real bash, which asks
// fanout for the words through the script's own function, as when the user presses Tab.

let dir: string;
let configFile: string;
let script: string;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fanout-completion-'));
  configFile = path.join(dir, 'fanout.yaml');
  fs.writeFileSync(configFile, ['repo: /srv/git/site.git', 'source: /data/www', 'targets:', '  - { name: web1, dest: /srv/www1/ }', '  - { name: web2, dest: /srv/www2/ }', '  - { name: edge, dest: /srv/edge/ }', ''].join('\n'));
  script = (await execa(process.execPath, [CLI, 'completion'], { env: { SHELL: '/bin/bash' } })).stdout;
  // the script runs `fanout` from the PATH, as installed
  fs.mkdirSync(path.join(dir, 'bin'));
  fs.writeFileSync(path.join(dir, 'bin', 'fanout'), `#!/bin/sh\nexec ${process.execPath} ${CLI} "$@"\n`, { mode: 0o755 });
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** What bash offers for these words, the last being the one being completed. */
async function complete(...words: string[]): Promise<string[]> {
  const quoted = words.map((w) => `'${w.replace(/'/g, `'\\''`)}'`).join(' ');
  const run = `${script}\nCOMP_WORDS=(fanout ${quoted}); COMP_CWORD=${words.length}; _fanout_yargs_completions; printf '%s\\n' "\${COMPREPLY[@]}"`;
  const result = await execa('bash', ['--norc', '--noprofile', '-c', run], { env: { PATH: `${path.join(dir, 'bin')}:/usr/bin:/bin`, HOME: dir }, extendEnv: false, stdin: 'ignore' });
  return result.stdout.split('\n').filter((l) => l !== '').sort();
}

describe('fanout completion', () => {
  it('prints a bash script that asks fanout itself for the words', () => {
    expect(script).toMatch(/complete -o bashdefault -o default -F _fanout_yargs_completions fanout/);
    expect(script).toContain('--get-yargs-completions');
  });

  it('completes the commands, then each command\'s options', async () => {
    expect(await complete('')).toEqual(['completion', 'deploy', 'doctor', 'help', 'history', 'hook', 'init', 'rollback', 'status', 'sync', 'verify', 'watch']);
    expect(await complete('ro')).toEqual(['rollback']);
    const options = await complete('deploy', '--');
    expect(options).toEqual(expect.arrayContaining(['--full', '--target', '--max-delete', '--dry-run', '--config']));
    expect(options).not.toContain('--all-slots');
    expect(await complete('verify', '--a')).toEqual(['--all-slots']);
  });

  it('completes --target with the names of the targets in the config', async () => {
    expect(await complete('--config', configFile, 'deploy', '--target', '')).toEqual(['edge', 'web1', 'web2']);
    expect(await complete('--config', configFile, 'sync', '--target', 'we')).toEqual(['web1', 'web2']);
    // bash splits `--config=FILE` and `--target=we` at the "=" (COMP_WORDBREAKS); zsh does not
    expect(await complete('--config', '=', configFile, 'sync', '--target', '=', 'we')).toEqual(['web1', 'web2']);
    expect(await complete(`--config=${configFile}`, 'deploy', '--target', 'e')).toEqual(['edge']);
    // the word whole, as zsh passes it: the whole word is what is completed
    const zsh = await execa(process.execPath, [CLI, '--get-yargs-completions', 'fanout', '--config', configFile, 'deploy', '--target=we'], { env: { SHELL: '/bin/zsh' } });
    expect(zsh.stdout.split('\n').filter((l) => l !== '').sort()).toEqual(['--target=web1', '--target=web2']);
    // a config that cannot be read offers no names, and says nothing on the terminal
    expect(await complete('--config', path.join(dir, 'missing.yaml'), 'deploy', '--target', '')).toEqual([]);
  });
});
