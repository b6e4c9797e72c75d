/**
 * npm run demo: the main job on loopback. Two rsync daemons stand in for the two web servers
 * (www1 and www2), a bare repository with fanout's hook stands in for the update server, and a
 * clone stands in for a developer. Everything lives in a temporary directory and is removed at
 * the end; the daemons are stopped by pid.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { stringify } from 'yaml';
import { startDaemon, type Daemon } from '../test/support/rsyncd.js';
import { diffSnapshots, snapshot } from '../test/support/tree.js';

const CLI = path.resolve(import.meta.dirname, '..', 'dist', 'cli.js');
const GIT_ENV = { GIT_AUTHOR_NAME: 'Demo', GIT_AUTHOR_EMAIL: 'demo@example.invalid', GIT_COMMITTER_NAME: 'Demo', GIT_COMMITTER_EMAIL: 'demo@example.invalid' };

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'fanout-demo-'));
const daemons: Daemon[] = [];
let cleaned = false;

async function cleanup(): Promise<void> {
  if (cleaned) return;
  cleaned = true;
  await Promise.all(daemons.map((d) => d.stop()));
  fs.rmSync(root, { recursive: true, force: true });
}

process.on('SIGINT', () => {
  void cleanup().then(() => process.exit(130));
});

function section(title: string): void {
  console.log(`\n== ${title} ==`);
}

function show(text: string): void {
  for (const line of text.trimEnd().split('\n')) if (line.trim() !== '') console.log(`   ${line}`);
}

async function fanout(...args: string[]): Promise<{ exitCode: number; output: string }> {
  const result = await execa(process.execPath, [CLI, '--config', path.join(root, 'fanout.yaml'), ...args], { reject: false, all: true });
  console.log(`$ fanout ${args.join(' ')}`);
  show(result.all);
  return { exitCode: result.exitCode ?? 1, output: result.all };
}

async function git(cwd: string, ...args: string[]): Promise<string> {
  const result = await execa('git', args, { cwd, env: GIT_ENV, all: true });
  return result.all;
}

function write(dir: string, files: Record<string, string>): void {
  for (const [rel, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), content);
  }
}

async function push(clone: string, message: string): Promise<void> {
  await git(clone, 'add', '-A');
  await git(clone, 'commit', '-q', '-m', message);
  console.log(`$ git commit -m "${message}" && git push origin main`);
  show(await git(clone, 'push', 'origin', 'HEAD:main'));
}

async function main(): Promise<void> {
  section('1. two web servers: rsync daemons on 127.0.0.2 and 127.0.0.3');
  for (const [i, name] of ['web1', 'web2'].entries()) {
    const daemon = await startDaemon({ hostIndex: 2 + i, root, name });
    daemons.push(daemon);
    console.log(`   ${name}: rsync://${daemon.user}@${daemon.address}:${daemon.port}/${name}/ (auth user, secrets file, password file mode 600)`);
  }

  section('2. the update server: fanout.yaml and fanout init');
  const repo = path.join(root, 'site.git');
  const source = path.join(root, 'www');
  const config = {
    repo,
    branch: 'main',
    source,
    targets: daemons.map((d) => ({ name: d.name, dest: d.dest, passwordFile: d.passwordFile })),
    exclude: ['*.swp'],
  };
  fs.writeFileSync(path.join(root, 'fanout.yaml'), stringify(config));
  show(stringify(config).replaceAll(root, '$DEMO'));
  await fanout('init');

  section('3. a developer pushes the site');
  const clone = path.join(root, 'clone');
  await git(root, 'clone', '-q', repo, clone);
  await git(clone, 'checkout', '-q', '-b', 'main');
  write(clone, {
    'index.html': '<!doctype html><title>Demo</title><h1>Hello from fanout</h1>\n',
    'css/site.css': 'body { font-family: sans-serif; }\n',
    'img/logo.svg': '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>\n',
    'about/team.html': '<h1>Team</h1>\n',
    'cgi-bin/hello.sh': '#!/bin/sh\necho "Content-Type: text/plain"; echo; echo hello\n',
  });
  fs.chmodSync(path.join(clone, 'cgi-bin/hello.sh'), 0o755);
  fs.symlinkSync('index.html', path.join(clone, 'latest.html'));
  await push(clone, 'First version of the site');

  section('4. one file changed, one page removed: only that is sent');
  write(clone, { 'css/site.css': 'body { font-family: sans-serif; color: #223; }\n' });
  fs.rmSync(path.join(clone, 'about'), { recursive: true });
  await push(clone, 'New colours; drop the team page');

  section('5. every target equals the source');
  let failed = false;
  const expected = snapshot(source);
  for (const daemon of daemons) {
    const differences = diffSnapshots(expected, snapshot(daemon.dir));
    console.log(`   ${daemon.name}: ${differences.length === 0 ? 'identical to the source' : `DIFFERS: ${differences.join('; ')}`}`);
    if (differences.length > 0) failed = true;
  }
  await fanout('verify');
  await fanout('status');

  section('6. a deploy with nothing to do, and a rollback');
  await fanout('deploy');
  await fanout('rollback');
  await fanout('history', '--limit', '3');
  if (failed) throw new Error('a target differs from the source');
  console.log('\ndemo finished: both targets were deployed, checked and rolled back; cleaning up');
}

try {
  await main();
} catch (error) {
  console.error(`demo failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
