/**
 * npm run demo: the main job, on loopback, narrated. Two rsync daemons stand in for the two web
 * servers, a bare repository with fanout's hook for the update server, and a clone for a
 * developer who pushes. Everything lives in one temporary directory, removed at the end (also on
 * Ctrl-C); the daemons are stopped by their own pid, nothing is killed by name.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { stringify } from 'yaml';
import { GIT_IDENTITY } from '../harness/farm.js';
import { startWebServer, type WebServer } from '../harness/nginx.js';
import { startDaemon, type Daemon } from '../harness/rsyncd.js';
import { diffSnapshots, snapshot } from '../harness/tree.js';

// this checkout's build, or with FANOUT_BIN an installed fanout (scripts/packed-demo: the package)
const INSTALLED = process.env.FANOUT_BIN;
const CLI = path.resolve(import.meta.dirname, '..', 'dist', 'cli.js');
const [program, programArgs] = INSTALLED === undefined ? [process.execPath, [CLI]] : [INSTALLED, []];

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'fanout-demo-'));
const configFile = path.join(root, 'fanout.yaml');
const repo = path.join(root, 'site.git');
const source = path.join(root, 'www');
const clone = path.join(root, 'clone');
const daemons: Daemon[] = [];
const webServers: WebServer[] = [];

// One cleanup, however many ways we get there (normal end, error, Ctrl-C).
let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    await Promise.all(webServers.map((w) => w.stop()));
    await Promise.all(daemons.map((d) => d.stop()));
    fs.rmSync(root, { recursive: true, force: true });
  })();
  return cleaning;
}
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    interrupted = true;
    console.log(`\n${signal}: stopping the daemons and removing ${root}`);
    void cleanup().finally(() => process.exit(130));
  });
}

class DemoFailure extends Error {}

function section(title: string): void {
  console.log(`\n== ${title} ==`);
}

/** Indented, with the temp dir shortened to $DEMO; git pads "remote:" lines with spaces. */
function show(text: string): void {
  for (const line of text.split('\n')) {
    const trimmed = line.trimEnd();
    if (trimmed !== '') console.log(`   ${trimmed.replaceAll(root, '$DEMO')}`);
  }
}

async function fanout(...args: string[]): Promise<string> {
  return fanoutExiting(0, ...args);
}

/** A fanout command that must exit with `expected` (status says 1 while the pushed commit is not served). */
async function fanoutExiting(expected: number, ...args: string[]): Promise<string> {
  console.log(`$ fanout ${args.join(' ')}`);
  const result = await execa(program, [...programArgs, '--config', configFile, ...args], { reject: false, all: true });
  show(result.all);
  if (result.exitCode !== expected) throw new DemoFailure(`fanout ${args.join(' ')} exited with ${result.exitCode ?? result.signal ?? '?'}, not ${expected}`);
  return result.all;
}

async function git(...args: string[]): Promise<string> {
  const result = await execa('git', args, { cwd: clone, env: GIT_IDENTITY, all: true });
  return result.all;
}

async function commitAndPush(message: string, pushArgs: string[]): Promise<void> {
  await git('add', '-A');
  await git('commit', '-q', '-m', message);
  console.log(`$ git commit -m ${JSON.stringify(message)} && ${['git push', ...pushArgs].join(' ')}`);
  // git prints the hook's output as "remote:" lines: that is fanout's report to the pusher
  show(await git('push', ...pushArgs));
}

function writeSite(files: Record<string, string>): void {
  for (const [rel, content] of Object.entries(files)) {
    const file = path.join(clone, rel);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, content);
  }
}

/** The config the demo writes, as YAML: a plain object, each chapter adding to the last. */
type DemoConfig = Record<string, unknown> & { targets: { name: string; dest: string; passwordFile: string; checkUrl?: string }[] };

/** Two rsync daemons stand in for the web servers. */
async function startTargets(): Promise<void> {
  section('1. two rsync daemons on loopback');
  for (const [i, name] of ['web1', 'web2'].entries()) {
    const daemon = await startDaemon({ hostIndex: 2 + i, root, name });
    daemons.push(daemon);
    const mode = (fs.statSync(daemon.passwordFile).mode & 0o777).toString(8);
    console.log(`   ${name}: rsync daemon pid ${daemon.pid() ?? '?'} on ${daemon.address}:${daemon.port}, module [${name}], auth user ${daemon.user}`);
    console.log(`         serves ${daemon.dir.replaceAll(root, '$DEMO')}; client password file mode ${mode}`);
  }
}

/** The update server's config, and fanout init. */
async function setUpUpdateServer(): Promise<DemoConfig> {
  section('2. the update server: fanout.yaml and fanout init');
  const config = {
    repo,
    branch: 'main',
    source,
    targets: daemons.map((d) => ({ name: d.name, dest: d.dest, passwordFile: d.passwordFile })),
    exclude: ['*.swp'],
  };
  fs.writeFileSync(configFile, stringify(config));
  console.log('$ cat fanout.yaml');
  show(stringify(config));
  await fanout('init');
  // the hook runs the fanout that wrote it: this checkout's, or the installed package's
  const hook = fs.readFileSync(path.join(repo, 'hooks', 'post-receive'), 'utf8');
  const runs = path.dirname(fs.realpathSync(INSTALLED ?? CLI));
  console.log(`   the hook runs ${hook.split('\n').find((l) => l.startsWith('exec '))?.replaceAll(root, '$DEMO') ?? '?'}`);
  if (!hook.includes(`'${runs}/cli.js'`)) throw new DemoFailure(`the hook does not run ${runs}/cli.js:\n${hook}`);
  return config;
}

/** A developer pushes the site, then a change to it. */
async function pushTwice(): Promise<void> {
  section('3. a developer clones, writes the site and pushes');
  await execa('git', ['clone', '-q', repo, clone], { env: GIT_IDENTITY });
  // the clone of an empty repository starts on the user's default branch, whatever it is
  await git('checkout', '-q', '-b', 'main');
  writeSite({
    'index.html': '<!doctype html>\n<title>fanout demo</title>\n<link rel="stylesheet" href="css/site.css">\n<img src="img/logo.svg"> Hello\n',
    'css/site.css': 'body { font-family: sans-serif; }\n',
    'img/logo.svg': '<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16"><circle cx="8" cy="8" r="7"/></svg>\n',
    'cgi-bin/hello.sh': '#!/bin/sh\nprintf "Content-Type: text/plain\\n\\nhello\\n"\n',
  });
  fs.chmodSync(path.join(clone, 'cgi-bin/hello.sh'), 0o755);
  fs.symlinkSync('index.html', path.join(clone, 'latest.html'));
  await commitAndPush('First version of the site', ['-u', 'origin', 'main']);

  section('4. edit one file, delete another, push again: only the change travels');
  writeSite({ 'css/site.css': 'body { font-family: sans-serif; color: #234; }\n' });
  // img/ holds nothing else: the directory must disappear from the targets too
  fs.rmSync(path.join(clone, 'img/logo.svg'));
  await commitAndPush('Darker text; drop the logo', []);
}

/** What each target holds, compared with the source. */
function compareTargets(): void {
  section('5. what each target holds, compared with the source');
  // type, exec bit, contents and symlink target of every path: what invariant 1 says must match
  const expected = snapshot(source);
  let identical = true;
  for (const daemon of daemons) {
    const actual = snapshot(daemon.dir);
    console.log(`   ${daemon.name} (${daemon.dir.replaceAll(root, '$DEMO')}):`);
    for (const [rel, what] of [...actual].sort(([a], [b]) => a.localeCompare(b))) {
      const note = what.startsWith('link ') ? `  -> ${what.slice(5)}` : what.startsWith('file x') ? '  (executable)' : what === 'dir' ? '/' : '';
      console.log(`     ${rel}${note}`);
    }
    const diff = diffSnapshots(expected, actual);
    if (diff.length === 0) console.log(`   ${daemon.name}: identical to source`);
    else {
      identical = false;
      console.log(`   ${daemon.name}: DIFFERS from source:`);
      for (const line of diff) console.log(`     ${line}`);
    }
  }
  if (!identical) throw new DemoFailure('a target differs from the source');
}

/** What an operator runs: deploy (nothing to do), verify, status, rollback, history. */
async function operate(): Promise<void> {
  section('6. deploy again: every target already has the commit');
  const again = await fanout('deploy');
  if (!again.includes('already up to date')) throw new DemoFailure('the second deploy sent something; it should have found nothing to do');

  section('7. operate: verify, status, rollback, history');
  await fanout('verify');
  await fanout('status');
  await fanout('rollback');
  const after = diffSnapshots(snapshot(source), snapshot(daemons[0]?.dir ?? source));
  if (after.length > 0) throw new DemoFailure(`after the rollback web1 differs from the source: ${after.join('; ')}`);
  await fanout('history', '--limit', '4');
}

/** Slots, nginx in front of each target, a canary and checks. */
async function atomicReleases(config: DemoConfig): Promise<DemoConfig> {
  section('8. atomic releases behind real web servers, a canary first, checked');
  // each target now holds slots/1, slots/2 and `current`; an nginx on its own loopback address
  // serves `current` (resolved per request: $realpath_root), and each release is checked through it
  for (const daemon of daemons) {
    const web = await startWebServer({ hostIndex: daemon.address === '127.0.0.2' ? 2 : 3, dir: path.join(root, `nginx-${daemon.name}`), root: path.join(daemon.dir, 'current') });
    webServers.push(web);
    console.log(`   ${daemon.name}: nginx pid on ${web.origin}, serving ${path.join(daemon.dir, 'current').replaceAll(root, '$DEMO')}`);
  }
  const releases = {
    ...config,
    layout: 'slots',
    slotGrace: 0,
    revisionFile: 'REVISION',
    checks: { body: '{commit}', retries: 1, retryDelay: 0.2 },
    rollout: { canary: 1 },
    targets: daemons.map((d, i) => ({ name: d.name, dest: d.dest, passwordFile: d.passwordFile, checkUrl: `${webServers[i]?.origin ?? ''}/REVISION` })),
  };
  fs.writeFileSync(configFile, stringify(releases));
  console.log('$ cat fanout.yaml   # layout: slots, revisionFile, checks, rollout');
  show(stringify(releases));
  writeSite({ 'index.html': '<!doctype html>\n<title>fanout demo</title>\nRelease three\n' });
  await commitAndPush('Release three, switched on both hosts at once', []);
  const served = await Promise.all(webServers.map(async (w) => (await fetch(`${w.origin}/index.html`)).text()));
  console.log(`   what the web servers serve now: ${served.map((t) => JSON.stringify(t.split('\n')[2])).join(', ')}`);
  if (!served.every((t) => t.includes('Release three'))) throw new DemoFailure('the web servers do not serve release three');
  return releases;
}

/** A release that fails its check is switched back. */
async function brokenRelease(releases: DemoConfig): Promise<void> {
  section('9. a release that fails its check on the canary is switched back at once');
  // this check wants a page the next release deletes
  fs.writeFileSync(configFile, stringify({ ...releases, checks: { retries: 1, retryDelay: 0.2 }, targets: releases.targets.map((t) => ({ ...t, checkUrl: (t.checkUrl ?? '').replace('/REVISION', '/index.html') })) }));
  fs.rmSync(path.join(clone, 'index.html'));
  writeSite({ 'home.html': 'moved\n' });
  await commitAndPush('Move the home page (breaks /index.html)', []);
  const still = await Promise.all(webServers.map(async (w) => (await fetch(`${w.origin}/index.html`)).status));
  console.log(`   /index.html on the web servers: ${still.join(', ')}`);
  if (!still.every((status) => status === 200)) throw new DemoFailure('the broken release was not rolled back');
  // every host is fine, but the branch tip is not what they serve: status says why, and exits 1
  const status = await fanoutExiting(1, 'status');
  if (!status.includes('not deployed: it failed its check')) throw new DemoFailure('status does not say why the branch tip is not deployed');
}

/** A build on the update server. */
async function buildOnUpdateServer(releases: DemoConfig): Promise<void> {
  section('10. a build on the update server: the commit holds sources, the hosts get the built site');
  const built = { ...releases, build: { command: ['sh', 'build.sh'], output: '_site' }, checks: { retries: 1, retryDelay: 0.2 } };
  fs.writeFileSync(configFile, stringify(built));
  console.log('$ cat fanout.yaml   # build: added');
  show(stringify({ build: built.build }));
  writeSite({
    'build.sh': 'set -e\nmkdir -p _site\nfor f in src/*.txt; do n=$(basename "$f" .txt); echo "page $n"; { echo "<!doctype html><title>$n</title>"; cat "$f"; } > "_site/$n.html"; done\n',
    'src/index.txt': 'Built on the update server\n',
    'src/about.txt': 'About this site\n',
  });
  await commitAndPush('Build the site from src/', []);
  const builtPage = await Promise.all(webServers.map(async (w) => (await fetch(`${w.origin}/index.html`)).text()));
  console.log(`   /index.html on the web servers: ${builtPage.map((t) => JSON.stringify(t.trim().split('\n')[1])).join(', ')}`);
  if (!builtPage.every((t) => t.includes('Built on the update server'))) throw new DemoFailure('the built site is not served');
  await fanout('history', '--limit', '1');
}

async function main(): Promise<void> {
  if (INSTALLED === undefined && !fs.existsSync(CLI)) throw new DemoFailure(`${CLI} is missing: run npm run build (or scripts/setup) first`);
  console.log(`working in ${root} (shown as $DEMO), removed at the end`);
  console.log(`fanout: ${INSTALLED ?? CLI}, ${(await execa(program, [...programArgs, '--version'])).stdout}`);

  await startTargets();
  const config = await setUpUpdateServer();
  await pushTwice();
  compareTargets();
  await operate();
  const releases = await atomicReleases(config);
  await brokenRelease(releases);
  await buildOnUpdateServer(releases);

  console.log('\ndemo passed: two pushes deployed to both targets, which equal the source; rolled back again; a release switched on both hosts behind nginx, and a broken one switched back from the canary; a site built on the update server');
}

try {
  await main();
} catch (error) {
  // execa's errors name the command and carry its output, which is what a reader needs here;
  // after Ctrl-C the interrupted child's error is just noise
  if (!interrupted) console.error(`\ndemo FAILED: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
