import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pMap from 'p-map';
import type { Config, Target } from '../base/config.js';
import { describeDest, rsyncDestArg } from '../base/dest.js';
import { errorMessage } from '../base/errors.js';
import { checksPushedObjects, takesPushOptions } from '../base/git.js';
import { walkDirectories } from '../watch/inotify.js';
import { displayPath, onDisk } from '../base/paths.js';
import { currentUid, userName } from '../base/trust.js';
import { firstLine, run, type ExecResult } from '../base/exec.js';
import { hookMarker, installationProblem, renderHook, type HookName } from '../base/installation.js';
import type { Logger } from '../base/log.js';
import { connectionArgs } from '../transport/rsync-args.js';
import { describeFreeze, readFreeze } from '../engine/freeze.js';
import { failureMessage } from '../transport/rsync-failure.js';
import { openRelay, probesSilentClients } from '../transport/relay.js';

export interface Check {
  name: string;
  ok: boolean;
  /** what was found */
  detail: string;
  /** what to do about it, when not ok */
  fix?: string;
}

/** rsync 3.1.0 brought --delete-missing-args; 3.2.3 brought --mkpath. */
const RSYNC_MINIMUM = [3, 2, 3] as const;

export async function checkTools(log: Logger): Promise<Check[]> {
  const version = async (command: string, args: string[]): Promise<string | undefined> => {
    // inotifywait --help exits 1: a tool that started and said something is there
    const result = await run(command, args, { log, timeoutMs: 10_000 });
    if (result.spawnError !== undefined) return undefined;
    return firstLine(`${result.stdout}\n${result.stderr}`) || command;
  };
  const checks: Check[] = [];
  const rsync = await version('rsync', ['--version']);
  const rsyncNumbers = /version (\d+)\.(\d+)\.(\d+)/.exec(rsync ?? '')?.slice(1).map(Number) ?? [];
  const rsyncOk = rsync !== undefined && compareVersions(rsyncNumbers, RSYNC_MINIMUM) >= 0;
  checks.push({
    name: 'rsync',
    ok: rsyncOk,
    detail: rsync ?? 'not found',
    ...(rsyncOk ? {} : { fix: `install rsync ${RSYNC_MINIMUM.join('.')} or newer (apt-get install rsync)` }),
  });
  const git = await version('git', ['--version']);
  checks.push({ name: 'git', ok: git !== undefined, detail: git ?? 'not found', ...(git === undefined ? { fix: 'apt-get install git' } : {}) });
  const flock = await version('flock', ['--version']);
  checks.push({ name: 'flock', ok: flock !== undefined, detail: flock ?? 'not found', ...(flock === undefined ? { fix: 'apt-get install util-linux' } : {}) });
  const inotify = await version('inotifywait', ['--help']);
  checks.push({
    name: 'inotifywait',
    ok: inotify !== undefined,
    detail: inotify ?? 'not found (needed by fanout watch only)',
    ...(inotify === undefined ? { fix: 'apt-get install inotify-tools' } : {}),
  });
  return checks;
}

function compareVersions(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i += 1) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

export function checkSetup(config: Config): Check[] {
  const checks: Check[] = [];
  for (const target of config.targets) {
    if (target.passwordFile !== undefined) {
      // loadConfig already refused a bad one; saying so here makes the list complete
      checks.push({ name: `${target.name} password file`, ok: true, detail: `${target.passwordFile}, mode 600` });
    }
  }
  checks.push(checkStateDir(config.stateDir));
  checks.push(checkFreeze(config.stateDir));
  checks.push(...checkHooks(config));
  checks.push(checkSource(config.source));
  if (config.metrics.textfile !== undefined) checks.push(checkTextfile(config.metrics.textfile));
  if (config.page.dir !== undefined) checks.push(checkPageDir(config.page.dir));
  return checks;
}

/** The operator's deploy lock: shown, not a problem (it is taken on purpose), but one whose file cannot be read is. */
function checkFreeze(stateDir: string): Check {
  const name = 'deploy lock';
  try {
    const freeze = readFreeze(stateDir);
    return { name, ok: true, detail: freeze === undefined ? 'not taken: pushes deploy' : `TAKEN: deploys are ${describeFreeze(freeze)} (fanout unlock lifts it)` };
  } catch (error) {
    return { name, ok: false, detail: errorMessage(error), fix: `fanout unlock, or make ${stateDir} readable by ${userName(currentUid())}` };
  }
}

/** page.dir: made at the next deploy when missing, so it, or the nearest directory above it, must let fanout write. */
function checkPageDir(dir: string): Check {
  const name = 'farm page';
  let existing = dir;
  while (!fs.existsSync(existing) && path.dirname(existing) !== existing) existing = path.dirname(existing);
  if (!fs.statSync(existing).isDirectory()) return { name, ok: false, detail: `${existing} is not a directory`, fix: 'point page.dir at a directory, or somewhere one can be made' };
  try {
    fs.accessSync(existing, fs.constants.W_OK | fs.constants.X_OK);
  } catch {
    return { name, ok: false, detail: `${existing} is not writable by ${userName(currentUid())}`, fix: `as root: install -d -o ${userName(currentUid())} -m 755 ${dir}` };
  }
  return { name, ok: true, detail: `${path.join(dir, 'index.html')}, rewritten after every deploy${existing === dir ? '' : ` (${dir} is made by the next one)`}` };
}

/** metrics.textfile: its directory (node_exporter's) must exist and let fanout write into it. */
function checkTextfile(file: string): Check {
  const name = 'metrics textfile';
  const dir = path.dirname(file);
  try {
    fs.accessSync(dir, fs.constants.W_OK | fs.constants.X_OK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return {
      name,
      ok: false,
      detail: code === 'ENOENT' ? `${dir} does not exist` : `${dir} is not writable by ${userName(currentUid())}`,
      fix: code === 'ENOENT' ? `create it, or point metrics.textfile at node_exporter's --collector.textfile.directory` : `as root: chgrp ${userName(currentUid())} ${dir} && chmod g+w ${dir}`,
    };
  }
  return { name, ok: true, detail: `${file}, rewritten after every deploy` };
}

/** The repository refuses malformed pushed trees itself (receive.fsckObjects). */
export async function checkRepository(repo: string): Promise<Check> {
  const name = 'pushed objects checked';
  if (await checksPushedObjects(repo)) return { name, ok: true, detail: `${repo}: receive.fsckObjects is on` };
  return {
    name,
    ok: false,
    detail: `${repo}: receive.fsckObjects is off, so git accepts a pushed tree with a ".." or ".git" entry or the same name twice (fanout refuses to deploy one, but the push itself lands)`,
    fix: `git --git-dir ${repo} config receive.fsckObjects true`,
  };
}

/** The repository takes push options, so that `git push -o message=...` is not refused. */
export async function checkPushOptions(repo: string): Promise<Check> {
  const name = 'push options';
  if (await takesPushOptions(repo)) return { name, ok: true, detail: `${repo}: receive.advertisePushOptions is on (git push -o message="..." says why)` };
  return {
    name,
    ok: false,
    detail: `${repo}: receive.advertisePushOptions is off, so git refuses a push that says why (git push -o message="...")`,
    fix: `fanout init, or git --git-dir ${repo} config receive.advertisePushOptions true`,
  };
}

function checkStateDir(dir: string): Check {
  const name = 'state directory';
  let stat: fs.Stats;
  try {
    stat = fs.statSync(dir);
  } catch {
    return { name, ok: false, detail: `${dir} does not exist`, fix: 'run fanout init' };
  }
  const mode = stat.mode & 0o777;
  try {
    fs.accessSync(dir, fs.constants.W_OK);
  } catch {
    return { name, ok: false, detail: `${dir} is not writable by ${userName(currentUid())}`, fix: `chown it to the user that receives pushes` };
  }
  if ((mode & 0o022) !== 0) return { name, ok: false, detail: `${dir} has mode ${mode.toString(8)}: others can write the journal`, fix: `chmod 700 ${dir}` };
  return { name, ok: true, detail: `${dir}, mode ${mode.toString(8)}` };
}

/** The hooks the config's push mode needs, each as fanout init writes it; in post-receive mode, no pre-receive of fanout's left deciding pushes. */
function checkHooks(config: Config): Check[] {
  const checks = [checkHook(config, 'post-receive')];
  const preReceive = path.join(config.repo, 'hooks', 'pre-receive');
  if (config.pushMode === 'pre-receive') checks.push(checkHook(config, 'pre-receive'));
  else if (readable(preReceive)?.includes(hookMarker('pre-receive')) === true)
    checks.push({ name: 'pre-receive hook', ok: false, detail: `${preReceive} is fanout's, but the config says push: post-receive (a push would still wait for its deploy)`, fix: `fanout init --config ${config.file}` });
  return checks;
}

function readable(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

function checkHook(config: Config, hookName: HookName): Check {
  const name = `${hookName} hook`;
  const hook = path.join(config.repo, 'hooks', hookName);
  const text = readable(hook);
  if (text === undefined) return { name, ok: false, detail: `${hook} is missing${hookName === 'pre-receive' ? ' (the config says push: pre-receive)' : ''}`, fix: `fanout init --config ${config.file}` };
  if (!text.includes(hookMarker(hookName))) return { name, ok: false, detail: `${hook} was not written by fanout`, fix: `call "fanout hook ${hookName}" from it, or move it aside and run fanout init` };
  if ((fs.statSync(hook).mode & 0o111) === 0) return { name, ok: false, detail: `${hook} is not executable`, fix: `chmod +x ${hook}` };
  if (!text.includes(config.file)) return { name, ok: false, detail: `${hook} uses another config`, fix: `fanout init --config ${config.file}` };
  // after an upgrade, or a move from a checkout to the package, it may run a fanout that is gone
  if (text !== renderHook(config.file, hookName)) return { name, ok: false, detail: `${hook} was written for another fanout (another installation, or an older version)`, fix: `fanout init --config ${config.file}` };
  const untrusted = installationProblem();
  if (untrusted !== undefined) return { name, ok: false, detail: `it runs this fanout, but ${untrusted}`, fix: 'install fanout where only root or this user can write' };
  return { name, ok: true, detail: hook };
}

function checkSource(source: string): Check {
  let entries: string[];
  try {
    entries = fs.readdirSync(source);
  } catch {
    return { name: 'source', ok: false, detail: `${source} does not exist`, fix: `fanout init, or mkdir ${source}` };
  }
  // a directory made by root in the source (a hot fix) stops the next checkout
  const me = userName(currentUid());
  let blocked: string | undefined;
  walkDirectories(source, '', (dir) => {
    try {
      fs.accessSync(onDisk(source, dir), fs.constants.W_OK);
      return true;
    } catch {
      blocked = dir;
      return false;
    }
  });
  if (blocked !== undefined) {
    const owner = userName(fs.statSync(onDisk(source, blocked)).uid);
    return { name: 'source', ok: false, detail: `${path.join(source, displayPath(blocked))} is not writable by ${me} (it belongs to ${owner}): the next checkout there will fail`, fix: `as root: chown -R ${me} ${source}` };
  }
  // a web server that does not run as the daemon's uid reads the document root through "others"
  const mode = fs.statSync(source).mode & 0o777;
  if ((mode & 0o005) !== 0o005) {
    return { name: 'source', ok: false, detail: `${source} has mode ${mode.toString(8)}: the first full pass gives every web server's document root that mode, and a web server that is not its owner cannot read it`, fix: `chmod 755 ${source}` };
  }
  return { name: 'source', ok: true, detail: entries.length === 0 ? `${source} (empty until the first deploy)` : `${source}, writable throughout by ${me}` };
}

/**
 * A harmless probe of one target: write a small directory (a file and a symlink) into it, read
 * the symlink back through the target's own rsync (a daemon with "munge symlinks" on stores it as
 * /rsyncd-munged/..., which then points nowhere), and delete the probe again.
 */
export async function probeTarget(config: Config, target: Target, log: Logger): Promise<Check[]> {
  const probe = `.fanout-probe-${crypto.randomBytes(4).toString('hex')}`;
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'fanout-doctor-'));
  const rsync = (args: string[], input?: string) => run(config.rsync.path, [...connectionArgs(target), ...args], { log, input: input ?? '' });
  const dest = rsyncDestArg(target.dest);
  try {
    const upload = path.join(scratch, 'up');
    fs.mkdirSync(path.join(upload, probe), { recursive: true });
    fs.writeFileSync(path.join(upload, probe, 'probe.txt'), 'fanout doctor probe\n');
    fs.symlinkSync('probe.txt', path.join(upload, probe, 'link'));
    const write = await rsync(['--recursive', '--links', '--mkpath', '--', `${upload}/`, dest]);
    if (write.exitCode !== 0) return [{ name: `${target.name} reachable and writable`, ok: false, detail: failureMessage(write, target), fix: writeFix(target) }];
    const checks: Check[] = [{ name: `${target.name} reachable and writable`, ok: true, detail: describeDest(target.dest) }];

    const back = path.join(scratch, 'back');
    fs.mkdirSync(back);
    const follow = await rsync(['--copy-links', '--', `${dest}${probe}/link`, `${back}/`]);
    const followed = follow.exitCode === 0 && fs.existsSync(path.join(back, 'link')) && fs.readFileSync(path.join(back, 'link'), 'utf8') === 'fanout doctor probe\n';
    checks.push(
      followed
        ? { name: `${target.name} symlinks`, ok: true, detail: 'arrive intact' }
        : {
            name: `${target.name} symlinks`,
            ok: false,
            detail: 'a symlink sent there does not resolve: the daemon munges symlinks (use chroot = no turns "munge symlinks" on)',
            fix: 'add "munge symlinks = no" to the module in rsyncd.conf, or "use chroot = yes"',
          },
    );

    if (target.layout.kind === 'slots') checks.push(...(await slotChecks(target, rsync, dest, upload, probe, followed)));

    const empty = path.join(scratch, 'empty');
    fs.mkdirSync(path.join(empty, 'slots'), { recursive: true });
    const cleanup = await rsync(['--files-from=-', '--from0', '--delete-missing-args', '--force', '--', `${empty}/`, dest], `${probe}\0${target.layout.kind === 'slots' ? `slots/${probe}\0` : ''}`);
    if (cleanup.exitCode !== 0) checks.push({ name: `${target.name} cleanup`, ok: false, detail: `could not delete the probe ${probe}: ${failureMessage(cleanup)}`, fix: `delete ${probe} on the target by hand` });
    return checks;
  } catch (error) {
    return [{ name: `${target.name} probe`, ok: false, detail: errorMessage(error) }];
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

/**
 * layout: slots: `current` is a symlink to `slots/N` as the target's own rsync lists it (a daemon
 * that munges symlinks shows it as /rsyncd-munged/..., which a web server cannot follow), and a
 * release directory can be made under `slots/`.
 */
async function slotChecks(target: Target, rsync: (args: string[]) => Promise<ExecResult>, dest: string, upload: string, probe: string, symlinksIntact: boolean): Promise<Check[]> {
  const checks: Check[] = [];
  const slotsDir = await rsync(['--recursive', '--links', '--mkpath', '--', `${upload}/${probe}/`, `${dest}slots/${probe}/`]);
  checks.push(
    slotsDir.exitCode === 0
      ? { name: `${target.name} slots`, ok: true, detail: `release directories can be made under slots/ (${target.layout.kind === 'slots' ? target.layout.count : 0} full copies of the site)` }
      : { name: `${target.name} slots`, ok: false, detail: `cannot make a directory under slots/: ${failureMessage(slotsDir, target)}`, fix: writeFix(target) },
  );
  const listed = await rsync(['--list-only', '--dirs', '--links', '--', `${dest}current`]);
  const line = listed.stdout.split('\n').find((l) => /\scurrent( -> |$)/.test(l));
  if (listed.exitCode !== 0 || line === undefined) {
    const missing = /No such file|change_dir|link_stat/.test(listed.stderr);
    checks.push(missing ? { name: `${target.name} current`, ok: true, detail: 'not there yet: the first deploy makes it' } : { name: `${target.name} current`, ok: false, detail: `cannot list current: ${failureMessage(listed, target)}` });
    return checks;
  }
  const pointsTo = / -> (.*)$/.exec(line)?.[1];
  if (!line.startsWith('l') || pointsTo === undefined) {
    checks.push({ name: `${target.name} current`, ok: false, detail: 'current is not a symlink: fanout cannot switch it in one step', fix: 'move it away on the host (mv current current.old); the next deploy makes the symlink' });
  } else if (!/^slots\/[1-9][0-9]?$/.test(pointsTo)) {
    checks.push({
      name: `${target.name} current`,
      ok: false,
      detail: symlinksIntact ? `current points to ${pointsTo}, not into slots/` : `current arrives as ${pointsTo}: the daemon munges symlinks, so a web server cannot follow current`,
      fix: symlinksIntact ? 'fanout deploy points it back into a slot' : 'add "munge symlinks = no" to the module in rsyncd.conf, or "use chroot = yes"',
    });
  } else checks.push({ name: `${target.name} current`, ok: true, detail: `-> ${pointsTo}` });
  return checks;
}

/** What to look at when the probe cannot write to a target. */
function writeFix(target: Target): string {
  return target.dest.kind === 'ssh' ? 'check sshd on the host, the ssh options (port, identityFile, knownHostsFile) and that the user can write the path' : 'check the daemon, the password file, rsyncd.conf (read only = no, hosts allow)';
}

export async function probeTargets(config: Config, targets: readonly Target[], log: Logger): Promise<Check[]> {
  return (await pMap(targets, (t) => probeTarget(config, t, log), { concurrency: config.concurrency })).flat();
}

/** A session slower to start than this is named: every target the relay sends to pays it. */
const SLOW_SESSION_MS = 300;

/** How long a session on a relay took to start, as doctor's line says it. */
export function sessionNote(ms: number): string {
  const took = `a session starts in ${Math.round(ms)} ms`;
  if (ms <= SLOW_SESSION_MS) return ` (${took})`;
  return ` (${took}, slow: every target sent through it pays that; is the login's ~/.bashrc loading something, such as pyenv or nvm?)`;
}

/** How long doctor waits for a relay's sshd to probe a silent session: with the guide's ClientAliveInterval 2, the first probe came 3 to 5 s in here; twice that allows for a busy relay. */
const SILENT_CLIENT_SECONDS = 10;

/**
 * Each relay of the zones these targets stand in: ssh connects, rsync runs there, and its sshd
 * ends a session whose client went silent (docs/guides/many-hosts.md).
 */
export async function probeRelays(config: Config, targets: readonly Target[], log: Logger): Promise<Check[]> {
  const zones = new Set(targets.map((t) => t.zone));
  const relays = config.zones.filter((z) => zones.has(z.name)).flatMap((z) => z.relays);
  if (relays.length === 0) return [];
  const sockets = fs.mkdtempSync(path.join(os.tmpdir(), 'fanout-doctor-ssh-'));
  try {
    return await pMap(
      relays,
      async (relay): Promise<Check> => {
        const name = `relay ${relay.name}`;
        const [opened, probed] = await Promise.all([openRelay(relay, sockets, log), probesSilentClients(relay, SILENT_CLIENT_SECONDS, log)]);
        if ('error' in opened) return { name, ok: false, detail: opened.error, fix: 'check sshd and rsync on the relay, its ssh options (port, identityFile, knownHostsFile) and that the login owns the directory' };
        await opened.close();
        const works = `zone ${relay.zone}: ssh connects and rsync runs there${sessionNote(opened.sessionMs)}`;
        if (probed) return { name, ok: true, detail: works };
        return {
          name,
          ok: false,
          detail: `${works}, but its sshd did not probe a silent client within ${SILENT_CLIENT_SECONDS}s (ClientAliveInterval unset, or longer): cut off from the update server, the relay would go on sending beside the update server's own passes`,
          fix: 'set ClientAliveInterval 2 and ClientAliveCountMax 3 in its sshd_config (docs/guides/many-hosts.md)',
        };
      },
      { concurrency: config.concurrency },
    );
  } finally {
    fs.rmSync(sockets, { recursive: true, force: true });
  }
}
