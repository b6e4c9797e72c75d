import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { closestKey, loadConfig, parseConfig, type Config } from '../../../src/base/config.js';
import { FanoutError } from '../../../src/base/errors.js';

const FILE = '/etc/fanout/fanout.yaml';

const MINIMAL = `
repo: /srv/git/site.git
source: /data/www
targets:
  - name: local
    dest: /srv/mirror/www/
`;

/** The error parseConfig (or `read`) throws, checked to be one line, exit code 2, naming the file. */
function configError(text: string, file = FILE, read: (text: string, file: string) => Config = parseConfig): FanoutError {
  let caught: unknown;
  try {
    read(text, file);
  } catch (error) {
    caught = error;
  }
  expect(caught, 'parseConfig should throw').toBeInstanceOf(FanoutError);
  const error = caught as FanoutError;
  expect(error.exitCode).toBe(2);
  expect(error.message).not.toContain('\n');
  expect(error.message.startsWith(`config ${file}: `)).toBe(true);
  return error;
}

describe('parseConfig: a valid config', () => {
  it('fills in the defaults', () => {
    const config = parseConfig(MINIMAL, FILE);
    expect(config).toMatchObject({
      file: FILE,
      repo: '/srv/git/site.git',
      source: '/data/www',
      branch: 'main',
      concurrency: 8,
      timeout: 30,
      retries: 1,
      retryDelay: 2,
      lockTimeout: 600,
      owner: false,
      exclude: [],
      protect: [],
      rsync: { path: 'rsync', args: [] },
      stateDir: '/srv/git/site.git/fanout',
      watch: { settleMs: 5, maxWaitMs: 1000, minDelayMs: 0, maxRetryDelay: 60 },
    });
    expect(config.targets).toEqual([
      {
        name: 'local',
        dest: { kind: 'local', path: '/srv/mirror/www/' },
        passwordFile: undefined,
        timeout: 30,
        ssh: { port: undefined, identityFile: undefined, knownHostsFile: undefined, strictHostKeyChecking: true },
        layout: { kind: 'in-place' },
      },
    ]);
    expect(config.switchQuorum).toBe(100);
  });

  it('layout: slots at the top, in-place for one target; slots, slotGrace and shared filled in', () => {
    const config = parseConfig(
      `
repo: /r.git
source: /data/www
layout: slots
slots: 3
slotGrace: 2.5
shared: [uploads, media/cache]
switch: available
targets:
  - name: web1
    dest: /srv/a/
  - name: legacy
    dest: /srv/b/
    layout: in-place
`,
      FILE,
    );
    expect(config.targets.map((t) => t.layout)).toEqual([{ kind: 'slots', count: 3, graceMs: 2500, shared: ['uploads', 'media/cache'] }, { kind: 'in-place' }]);
    expect(config.switchQuorum).toBe(0);
    expect(parseConfig(MINIMAL.replace('targets:', 'layout: slots\ntargets:'), FILE).targets[0]?.layout).toEqual({ kind: 'slots', count: 2, graceMs: 10_000, shared: [] });
  });

  it('resolves relative paths against the config file directory', () => {
    const config = parseConfig(
      `
repo: site.git
source: ../www
stateDir: state
targets:
  - name: web2
    dest: deploy@web2:/data/www/
    ssh:
      identityFile: keys/id_ed25519
      knownHostsFile: ./known_hosts
`,
      FILE,
    );
    expect(config.repo).toBe('/etc/fanout/site.git');
    expect(config.source).toBe('/etc/www');
    expect(config.stateDir).toBe('/etc/fanout/state');
    expect(config.targets[0]?.ssh.identityFile).toBe('/etc/fanout/keys/id_ed25519');
    expect(config.targets[0]?.ssh.knownHostsFile).toBe('/etc/fanout/known_hosts');
  });

  it('defaults stateDir to <repo>/fanout with a relative repo too', () => {
    const config = parseConfig(MINIMAL.replace('/srv/git/site.git', 'git/site.git'), FILE);
    expect(config.stateDir).toBe('/etc/fanout/git/site.git/fanout');
  });

  it('keeps explicit values and lets a target override the timeout', () => {
    const config = parseConfig(
      `
repo: /r.git
branch: production
source: /data/www
concurrency: 3
timeout: 12
retries: 0
owner: true
exclude: ["*.swp", ".git/"]
protect: [uploads/]
rsync:
  path: /usr/local/bin/rsync
  args: [--compress]
targets:
  - name: fast
    dest: /srv/a
  - name: slow
    dest: /srv/b
    timeout: 90
  - name: web2
    dest: web2:/data/www
    ssh:
      port: 2222
      strictHostKeyChecking: false
`,
      FILE,
    );
    expect(config).toMatchObject({
      branch: 'production',
      concurrency: 3,
      timeout: 12,
      retries: 0,
      owner: true,
      exclude: ['*.swp', '.git/'],
      protect: ['uploads/'],
      rsync: { path: '/usr/local/bin/rsync', args: ['--compress'] },
    });
    expect(config.targets.map((t) => [t.name, t.timeout])).toEqual([
      ['fast', 12],
      ['slow', 90],
      ['web2', 12],
    ]);
    expect(config.targets[2]?.ssh).toEqual({ port: 2222, identityFile: undefined, knownHostsFile: undefined, strictHostKeyChecking: false });
  });

  it('parses each dest into its kind', () => {
    const config = parseConfig(
      `
repo: /r.git
source: /data/www
targets:
  - name: anon
    dest: web1::site
  - name: web2
    dest: deploy@192.168.9.228:/data/www/
  - name: local
    dest: /srv/mirror/www/
`,
      FILE,
    );
    expect(config.targets.map((t) => t.dest.kind)).toEqual(['daemon', 'ssh', 'local']);
  });
});

describe('parseConfig: slots', () => {
  it('refuses a layout, a slot count, a shared path or a switch policy it cannot use, naming the field', () => {
    expect(configError(MINIMAL.replace('targets:', 'layout: blue-green\ntargets:')).message).toMatch(/: layout: must be "in-place" or "slots"$/);
    expect(configError(MINIMAL.replace('targets:', 'slots: 1\ntargets:')).message).toMatch(/: slots: must be at least 2$/);
    expect(configError(MINIMAL.replace('targets:', 'shared: [/uploads]\ntargets:')).message).toMatch(/: shared\[0\]: a path inside the site/);
    expect(configError(MINIMAL.replace('targets:', 'shared: [../etc]\ntargets:')).message).toMatch(/: shared\[0\]: not a path fanout can use/);
    expect(configError(MINIMAL.replace('targets:', 'shared: ["up*"]\ntargets:')).message).toMatch(/: shared\[0\]: .*no \*, \? or \[/);
    expect(configError(MINIMAL.replace('targets:', 'switch: some\ntargets:')).message).toMatch(/: switch: must be "all", "available" or the share of the farm that must have staged, like "99%"$/);
    for (const share of ['101%', '99', '-1%', '.5%', '99 %']) expect(configError(MINIMAL.replace('targets:', `switch: "${share}"\ntargets:`)).message, share).toMatch(/: switch: must be "all", "available" or the share/);
    expect(parseConfig(MINIMAL.replace('targets:', 'switch: "99%"\ntargets:'), FILE).switchQuorum).toBe(99);
    expect(parseConfig(MINIMAL.replace('targets:', 'switch: 99.5%\ntargets:'), FILE).switchQuorum).toBe(99.5);
    expect(parseConfig(MINIMAL.replace('targets:', 'switch: 0%\ntargets:'), FILE).switchQuorum).toBe(0);
    expect(configError(MINIMAL.replace('targets:', 'slotGrace: -1\ntargets:')).message).toMatch(/: slotGrace: must be 0 or more/);
  });
});

describe('parseConfig: errors are one line naming the field', () => {
  it('malformed YAML', () => {
    expect(configError('repo: [unclosed\nsource: /x\n').message).toContain('not valid YAML');
    expect(configError('a: b: c\n').message).toContain('not valid YAML');
  });

  it('a key given twice', () => {
    expect(configError('repo: /a\nrepo: /b\nsource: /s\ntargets: []\n').message).toContain('not valid YAML');
  });

  it('top level not a mapping', () => {
    expect(configError('- repo: /a\n').message).toContain('expected a mapping');
    expect(configError('just a string\n').message).toContain('expected a mapping');
    expect(configError('').message).toContain('expected a mapping');
  });

  it('a misspelt required key is named, with the key it most resembles, not reported as the key missing', () => {
    const message = configError('repo: /r.git\nsource: /data/www\ntargts: []\n').message;
    expect(message).toMatch(/: unknown field "targts" \(did you mean "targets"\?\)$/);
    expect(message).not.toContain('missing');
    expect(configError(`${MINIMAL}watch:\n  setleMs: 3\n`).message).toMatch(/watch: unknown field "setleMs" \(did you mean "settleMs"\?\)$/);
    expect(configError(`${MINIMAL}Exclude: []\n`).message).toContain('(did you mean "exclude"?)');
  });

  it('suggests a known key only when it is near', () => {
    expect(closestKey('targts', ['repo', 'targets', 'source'])).toBe('targets');
    expect(closestKey('maxdelete', ['maxDelete', 'owner'])).toBe('maxDelete');
    expect(closestKey('colour', ['repo', 'targets', 'source'])).toBeUndefined();
  });

  it('unknown top-level key', () => {
    const { message } = configError(`${MINIMAL}colour: blue\n`);
    expect(message).toContain('unknown field "colour"');
  });

  it('unknown target key (passwordfile misspelt)', () => {
    const { message } = configError(`
repo: /r.git
source: /data/www
targets:
  - name: web1
    dest: www1@web1::web1
    passwordfile: /etc/www1.pwd
`);
    expect(message).toContain('targets[0]');
    expect(message).toContain('unknown field "passwordfile"');
  });

  it('unknown ssh key', () => {
    const { message } = configError(`
repo: /r.git
source: /data/www
targets:
  - name: web2
    dest: web2:/data/www
    ssh:
      identity: /k
`);
    expect(message).toContain('targets[0].ssh');
    expect(message).toContain('"identity"');
  });

  it('missing repo', () => {
    expect(configError('source: /data/www\ntargets: []\n').message).toBe(`config ${FILE}: repo: missing (required)`);
  });

  it('missing source', () => {
    expect(configError('repo: /r.git\ntargets: []\n').message).toBe(`config ${FILE}: source: missing (required)`);
  });

  it('missing targets', () => {
    expect(configError('repo: /r.git\nsource: /data/www\n').message).toBe(`config ${FILE}: targets: missing (required)`);
  });

  it('missing target dest', () => {
    const { message } = configError('repo: /r.git\nsource: /data/www\ntargets:\n  - name: web1\n');
    expect(message).toContain('targets[0].dest: missing (required)');
  });

  it('wrong type names the field', () => {
    expect(configError(`${MINIMAL}concurrency: lots\n`).message).toContain('concurrency: ');
    expect(configError(`${MINIMAL}concurrency: 0\n`).message).toContain('concurrency: ');
    expect(configError(`${MINIMAL}timeout: -1\n`).message).toContain('timeout: ');
    expect(configError(`${MINIMAL}retries: 11\n`).message).toContain('retries: ');
    expect(configError(`${MINIMAL}rsync:\n  args: [1]\n`).message).toContain('rsync.args[0]: ');
    expect(configError('repo: /r.git\nsource: /data/www\ntargets: 3\n').message).toContain('targets: ');
  });

  it('says what a value must be, in words', () => {
    expect(configError(`${MINIMAL}concurrency: 0\n`).message).toBe(`config ${FILE}: concurrency: must be at least 1`);
    expect(configError(`${MINIMAL}retries: 11\n`).message).toBe(`config ${FILE}: retries: must be at most 10`);
    expect(configError(`${MINIMAL}timeout: 0\n`).message).toBe(`config ${FILE}: timeout: must be more than 0 (seconds)`);
    expect(configError(`${MINIMAL}watch:\n  settleMs: 1.5\n`).message).toBe(`config ${FILE}: watch.settleMs: must be a whole number`);
    expect(configError(`${MINIMAL}branch: ""\n`).message).toBe(`config ${FILE}: branch: must not be empty`);
    expect(configError(`${MINIMAL}concurrency: lots\n`).message).toBe(`config ${FILE}: concurrency: Invalid type: Expected number but received "lots"`);
  });

  it('bad target name', () => {
    const { message } = configError('repo: /r.git\nsource: /s\ntargets:\n  - name: "web 1"\n    dest: /srv/x\n');
    expect(message).toContain('targets[0].name: ');
  });

  it('bad dest', () => {
    const { message } = configError(`
repo: /r.git
source: /data/www
targets:
  - name: ok
    dest: /srv/ok
  - name: web1
    dest: relative/dir
`);
    expect(message).toContain('targets[1].dest: ');
    expect(message).toContain('"relative/dir"');
  });

  it('duplicate target names', () => {
    const { message } = configError(`
repo: /r.git
source: /data/www
targets:
  - name: web1
    dest: /srv/a
  - name: web2
    dest: /srv/b
  - name: web1
    dest: /srv/c
`);
    expect(message).toContain('targets[2].name: ');
    expect(message).toContain('duplicate target name "web1"');
  });

  it('passwordFile on a non-daemon target', () => {
    for (const dest of ['deploy@web2:/data/www/', '/srv/mirror/www']) {
      const { message } = configError(`
repo: /r.git
source: /data/www
targets:
  - name: t
    dest: ${dest}
    passwordFile: /etc/t.pwd
`);
      expect(message).toContain('targets[0].passwordFile: ');
      expect(message).toContain('daemon');
    }
  });

  it('ssh options on a non-ssh target', () => {
    const { message } = configError(`
repo: /r.git
source: /data/www
targets:
  - name: t
    dest: /srv/mirror
    ssh:
      port: 22
`);
    expect(message).toContain('targets[0].ssh: ');
  });

  it('daemon dest with a user but no passwordFile', () => {
    for (const dest of ['www1@192.168.9.226::web1', 'rsync://www1@192.168.9.226/web1/']) {
      const { message } = configError(`
repo: /r.git
source: /data/www
targets:
  - name: web1
    dest: ${dest}
`);
      expect(message).toContain('targets[0].passwordFile: ');
      expect(message).toContain('required');
    }
  });
});

describe('loadConfig: the daemon password file (parseConfig reads no file)', () => {
  let dir: string;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fanout-config-test-'));
  });

  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const daemonConfig = (passwordFile: string): string => `
repo: /r.git
source: /data/www
targets:
  - name: web1
    dest: www1@192.168.9.226::web1
    passwordFile: ${passwordFile}
`;

  /** The config written where `file` says, then loaded as fanout loads it. */
  const loadFrom = (text: string, file: string): Config => {
    fs.writeFileSync(file, text);
    return loadConfig(file);
  };

  it('parseConfig itself reads no file: a missing password file is left to loadConfig', () => {
    const file = path.join(dir, 'nope.pwd');
    expect(parseConfig(daemonConfig(file), path.join(dir, 'fanout.yaml')).targets[0]?.passwordFile).toBe(file);
    expect(() => loadFrom(daemonConfig(file), path.join(dir, 'fanout.yaml'))).toThrow(/targets\[0\]\.passwordFile: ".*nope\.pwd" does not exist/);
  });

  const writePasswordFile = (name: string, content: string, mode: number): string => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, content);
    fs.chmodSync(file, mode);
    return file;
  };

  it('accepts a mode-600 file holding a password', () => {
    const file = writePasswordFile('www1.pwd', 'hunter2\n', 0o600);
    const config = loadFrom(daemonConfig(file), path.join(dir, 'fanout.yaml'));
    expect(config.targets[0]?.passwordFile).toBe(file);
    expect(config.targets[0]?.dest).toMatchObject({ kind: 'daemon', user: 'www1', module: 'web1' });
  });

  it('accepts mode 400 too', () => {
    const file = writePasswordFile('www1.pwd', 'hunter2\n', 0o400);
    expect(loadFrom(daemonConfig(file), path.join(dir, 'fanout.yaml')).targets[0]?.passwordFile).toBe(file);
  });

  it('resolves a relative passwordFile against the config file directory', () => {
    const file = writePasswordFile('www1.pwd', 'hunter2\n', 0o600);
    const config = loadFrom(daemonConfig('www1.pwd'), path.join(dir, 'fanout.yaml'));
    expect(config.targets[0]?.passwordFile).toBe(file);
  });

  it('rejects a missing file', () => {
    const file = path.join(dir, 'nope.pwd');
    const { message } = configError(daemonConfig(file), path.join(dir, 'fanout.yaml'), loadFrom);
    expect(message).toContain('targets[0].passwordFile: ');
    expect(message).toContain(`${JSON.stringify(file)} does not exist`);
  });

  it('rejects a relative passwordFile that does not exist beside the config', () => {
    const { message } = configError(daemonConfig('www1.pwd'), path.join(dir, 'fanout.yaml'), loadFrom);
    expect(message).toContain(`${JSON.stringify(path.join(dir, 'www1.pwd'))} does not exist`);
  });

  it('rejects a file others can read (mode 644)', () => {
    const file = writePasswordFile('www1.pwd', 'hunter2\n', 0o644);
    const { message } = configError(daemonConfig(file), path.join(dir, 'fanout.yaml'), loadFrom);
    expect(message).toContain('targets[0].passwordFile: ');
    expect(message).toContain('mode 644');
    expect(message).toContain(`chmod 600 ${file}`);
  });

  it('rejects a group-readable file (mode 640)', () => {
    const file = writePasswordFile('www1.pwd', 'hunter2\n', 0o640);
    expect(configError(daemonConfig(file), path.join(dir, 'fanout.yaml'), loadFrom).message).toContain('mode 640');
  });

  it('rejects an empty file', () => {
    const file = writePasswordFile('www1.pwd', '', 0o600);
    const { message } = configError(daemonConfig(file), path.join(dir, 'fanout.yaml'), loadFrom);
    expect(message).toContain('targets[0].passwordFile: ');
    expect(message).toContain(`${file} is empty`);
  });

  it('rejects a directory', () => {
    const sub = path.join(dir, 'pwdir');
    fs.mkdirSync(sub, { mode: 0o700 });
    expect(configError(daemonConfig(sub), path.join(dir, 'fanout.yaml'), loadFrom).message).toContain('is not a file');
  });

  it.runIf(process.getuid?.() === 0)('rejects a file not owned by root when running as root', () => {
    const file = writePasswordFile('www1.pwd', 'hunter2\n', 0o600);
    fs.chownSync(file, 65534, 65534);
    expect(configError(daemonConfig(file), path.join(dir, 'fanout.yaml'), loadFrom).message).toContain('owned by root');
  });

  it('never puts the password itself in an error', () => {
    const file = writePasswordFile('www1.pwd', 'S3cretPassw0rd\n', 0o644);
    expect(configError(daemonConfig(file), path.join(dir, 'fanout.yaml'), loadFrom).message).not.toContain('S3cretPassw0rd');
  });

  it('names the failing target when a later one is wrong', () => {
    const good = writePasswordFile('good.pwd', 'pw\n', 0o600);
    const bad = writePasswordFile('bad.pwd', 'pw\n', 0o604);
    const { message } = configError(
      `
repo: /r.git
source: /data/www
targets:
  - name: web1
    dest: www1@web1::web1
    passwordFile: ${good}
  - name: web2
    dest: www2@web2::web2
    passwordFile: ${bad}
`,
      path.join(dir, 'fanout.yaml'),
      loadFrom,
    );
    expect(message).toContain('targets[1].passwordFile: ');
    expect(message).toContain('mode 604');
  });
});

describe('parseConfig: checks and rollout', () => {
  const withChecks = (extra: string): string => MINIMAL.replace('targets:', `${extra}\ntargets:`);

  it('fills in the checks and the rollout, and gives each target the check URL', () => {
    const config = parseConfig(withChecks('checks:\n  url: "http://{host}/REVISION"\n  body: "{commit}"\nrevisionFile: REVISION\nrollout:\n  canary: 1\n  batch: "50%"\n  pause: 2'), FILE);
    expect(config.checks).toEqual({ url: 'http://{host}/REVISION', status: 200, body: '{commit}', command: undefined, timeoutMs: 5000, retries: 2, retryDelayMs: 1000, settleMs: 0 });
    expect(config.rollout).toEqual({ canary: 1, batch: '50%', pauseMs: 2000, onFailure: 'rollback' });
    expect(config.revisionFile).toBe('REVISION');
    expect(config.targets[0]?.checkUrl).toBe('http://{host}/REVISION');
    expect(parseConfig(MINIMAL, FILE).rollout).toEqual({ canary: undefined, batch: undefined, pauseMs: 0, onFailure: 'rollback' });
  });

  it('refuses a check with nothing to check, a rollout without checks, an unknown canary, a bad batch', () => {
    expect(configError(withChecks('checks:\n  status: 200')).message).toMatch(/: checks: nothing to check local with: give checks.url/);
    expect(configError(withChecks('rollout:\n  canary: 1')).message).toMatch(/: rollout: a rollout is gated by checks/);
    expect(configError(withChecks('checks:\n  command: [/bin/true]\nrollout:\n  canary: [web9]')).message).toMatch(/: rollout.canary: no target named "web9"; configured: local/);
    expect(configError(withChecks('checks:\n  command: [/bin/true]\nrollout:\n  batch: "150%"')).message).toMatch(/rollout.batch: a number of targets, or a percentage/);
    expect(configError(withChecks('checks:\n  command: []')).message).toMatch(/checks.command: must name a program/);
    expect(configError(withChecks('revisionFile: ../x')).message).toMatch(/revisionFile: not a path fanout can use/);
  });
});

describe('parseConfig: hooks', () => {
  it('argument arrays with a timeout; an empty one is refused', () => {
    const config = parseConfig(MINIMAL.replace('targets:', 'hooks:\n  before: [/usr/local/bin/drain, "--all"]\n  timeout: 10\ntargets:'), FILE);
    expect(config.hooks).toEqual({ before: ['/usr/local/bin/drain', '--all'], afterSwitch: undefined, after: undefined, onFailure: undefined, timeoutMs: 10_000 });
    expect(parseConfig(MINIMAL, FILE).hooks.timeoutMs).toBe(60_000);
    expect(configError(MINIMAL.replace('targets:', 'hooks:\n  after: []\ntargets:')).message).toMatch(/hooks.after: must name a program/);
  });
});

describe('parseConfig: build', () => {
  it('an argument array or a shell string, with the defaults filled in', () => {
    const config = parseConfig(MINIMAL.replace('targets:', 'build:\n  command: [npx, "@11ty/eleventy"]\n  output: _site\n  cache: [node_modules]\n  env: { NODE_ENV: production }\ntargets:'), FILE);
    expect(config.build).toEqual({ command: ['npx', '@11ty/eleventy'], output: '_site', env: { NODE_ENV: 'production' }, timeoutMs: 600_000, cache: ['node_modules'], keep: 20 });
    expect(parseConfig(MINIMAL.replace('targets:', 'build:\n  command: "npm ci && npm run build"\n  output: dist\ntargets:'), FILE).build?.command).toBe('npm ci && npm run build');
    expect(parseConfig(MINIMAL, FILE).build).toBeUndefined();
  });

  it('refuses an output outside the checkout, an empty command, a bad variable name', () => {
    expect(configError(MINIMAL.replace('targets:', 'build:\n  command: [make]\n  output: ../out\ntargets:')).message).toMatch(/build.output: not a path fanout can use/);
    expect(configError(MINIMAL.replace('targets:', 'build:\n  command: []\n  output: out\ntargets:')).message).toMatch(/build.command: /);
    expect(configError(MINIMAL.replace('targets:', 'build:\n  command: [make]\n  output: out\n  env: { "A-B": x }\ntargets:')).message).toMatch(/build.env.*an environment variable name/);
  });

  it('watch.path: a directory inside the site, or none', () => {
    expect(parseConfig(MINIMAL.replace('targets:', 'watch:\n  path: up/media\ntargets:'), FILE).watch.path).toBe('up/media');
    expect(parseConfig(MINIMAL, FILE).watch.path).toBeUndefined();
    expect(configError(MINIMAL.replace('targets:', 'watch:\n  path: /srv/media\ntargets:')).message).toMatch(/watch.path: a path inside the site/);
    expect(configError(MINIMAL.replace('targets:', 'watch:\n  path: media/../..\ntargets:')).message).toMatch(/watch.path: not a path fanout can use/);
  });
});

describe('parseConfig: metrics', () => {
  it('a textfile ending in .prom, and the farm label: the repository\'s name unless set', () => {
    expect(parseConfig(MINIMAL, FILE).metrics).toEqual({ textfile: undefined, farm: 'site' });
    const set = parseConfig(MINIMAL.replace('targets:', 'metrics:\n  textfile: /var/lib/node-exporter/fanout.prom\n  farm: shop\ntargets:'), FILE).metrics;
    expect(set).toEqual({ textfile: '/var/lib/node-exporter/fanout.prom', farm: 'shop' });
    expect(configError(MINIMAL.replace('targets:', 'metrics:\n  textfile: /tmp/fanout.txt\ntargets:')).message).toMatch(/metrics.textfile: must end in .prom/);
  });
});

describe('parseConfig: page', () => {
  it('off unless configured; its directory resolved against the config\'s', () => {
    expect(parseConfig(MINIMAL, FILE).page).toEqual({ dir: undefined });
    expect(parseConfig(MINIMAL.replace('targets:', 'page:\n  dir: /var/www/fanout\ntargets:'), FILE).page).toEqual({ dir: '/var/www/fanout' });
    expect(parseConfig(MINIMAL.replace('targets:', 'page:\n  dir: page\ntargets:'), FILE).page).toEqual({ dir: path.join(path.dirname(FILE), 'page') });
    expect(configError(MINIMAL.replace('targets:', 'page:\n  dir: ""\ntargets:')).message).toMatch(/page.dir: must not be empty/);
    expect(configError(MINIMAL.replace('targets:', 'page:\n  file: x.html\ntargets:')).message).toMatch(/page: unknown field "file"/);
  });
});
