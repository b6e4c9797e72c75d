import fs from 'node:fs';
import path from 'node:path';
import { loadStages, type Config, type PushMode } from '../../base/config.js';
import { FanoutError } from '../../base/errors.js';
import { advertisePushOptions, createBareRepo, isBareRepo, takesPushOptions } from '../../base/git.js';
import { ensureDir } from '../../engine/journal.js';
import { hookMarker, installationProblem, renderHook, type HookName } from '../../base/installation.js';
import type { GlobalArgs } from '../global-options.js';
import { configPath } from '../session.js';

/** `fanout init [--repo R --source S --branch B]`: a line for each thing done. */
export async function runInit(args: GlobalArgs & { repo: string | undefined; source: string | undefined; branch: string | undefined }): Promise<void> {
  const lines = await init({ configFile: configPath(args.config), repo: args.repo, source: args.source, branch: args.branch });
  for (const line of lines) console.log(line);
}

export interface InitOptions {
  configFile: string;
  repo: string | undefined;
  source: string | undefined;
  branch: string | undefined;
}

/**
 * Set up the update server: bare repo, hook, starter config. Idempotent: what exists and is right
 * is left alone, and the returned lines say what was done.
 */
export async function init(options: InitOptions): Promise<string[]> {
  const done: string[] = [];
  // before anything is made: a repository whose hook cannot be installed is no use
  const untrusted = installationProblem();
  if (untrusted !== undefined) throw new FanoutError(`the hook would run this fanout, but ${untrusted}; refusing to install it (whoever can write it decides what every push runs)`);
  const configFile = path.resolve(options.configFile);
  let repo: string;
  let farms: Pick<Config, 'branch' | 'source' | 'stateDir'>[];
  let pushMode: PushMode = 'post-receive';
  if (fs.existsSync(configFile)) {
    farms = loadStages(configFile);
    const first = farms[0] as Config;
    ({ repo, pushMode } = first);
  } else {
    if (options.repo === undefined || options.source === undefined)
      throw new FanoutError(`config ${configFile} does not exist: give --repo and --source to write a starter config`);
    repo = path.resolve(options.repo);
    const source = path.resolve(options.source);
    const branch = options.branch ?? 'main';
    farms = [{ branch, source, stateDir: path.join(repo, 'fanout') }];
    writeStarterConfig(configFile, repo, source, branch);
    done.push(`wrote a starter config to ${configFile}: add your targets`);
  }
  const headBranch = farms.find((f) => f.branch !== undefined)?.branch ?? 'main';

  if (!fs.existsSync(repo)) {
    fs.mkdirSync(path.dirname(repo), { recursive: true });
    // git then refuses a pushed tree with a ".." or ".git" entry, or the same name twice
    await createBareRepo(repo, headBranch);
    done.push(`created bare repository ${repo} (receive.fsckObjects on)`);
  } else if (!(await isBareRepo(repo))) {
    throw new FanoutError(`repo ${repo} exists but is not a bare git repository`);
  } else if (!(await takesPushOptions(repo))) {
    await advertisePushOptions(repo);
    done.push(`set receive.advertisePushOptions in ${repo}: a push may say why (git push -o message="...")`);
  }

  // post-receive in either mode: in pre-receive mode it finishes what git accepted (build refs)
  installHook(repo, configFile, 'post-receive', done);
  if (pushMode === 'pre-receive') installHook(repo, configFile, 'pre-receive', done);
  else removeOwnHook(repo, 'pre-receive', done);

  for (const { stateDir, source } of farms) {
    if (!fs.existsSync(stateDir)) {
      ensureDir(stateDir);
      done.push(`created state directory ${stateDir}`);
    }
    if (!fs.existsSync(source)) {
      fs.mkdirSync(source, { recursive: true });
      done.push(`created source directory ${source}`);
    }
  }
  if (done.length === 0) done.push(`already set up: ${farms.map((f) => `${repo} deploys ${f.branch === undefined ? 'by fanout promote' : `branch ${f.branch}`} from ${f.source}`).join('; ')}`);
  return done;
}

/** A hook of fanout's written (or rewritten) into the repository; one written by someone else is left alone and refused. */
function installHook(repo: string, configFile: string, name: HookName, done: string[]): void {
  const hookFile = path.join(repo, 'hooks', name);
  const hook = renderHook(configFile, name);
  const existing = fs.existsSync(hookFile) ? fs.readFileSync(hookFile, 'utf8') : undefined;
  if (existing !== undefined && !existing.includes(hookMarker(name)))
    throw new FanoutError(`${hookFile} exists and was not written by fanout: move it aside, or call "fanout hook ${name}" from it`);
  if (existing !== hook) {
    ensureDir(path.dirname(hookFile));
    fs.writeFileSync(hookFile, hook, { mode: 0o755 });
    done.push(`${existing === undefined ? 'installed' : 'updated'} ${hookFile}`);
  }
  fs.chmodSync(hookFile, 0o755);
}

/** A hook fanout wrote for a mode the config no longer has (push: pre-receive taken out): removed, so that it decides no push. */
function removeOwnHook(repo: string, name: HookName, done: string[]): void {
  const hookFile = path.join(repo, 'hooks', name);
  let existing: string;
  try {
    existing = fs.readFileSync(hookFile, 'utf8');
  } catch {
    return;
  }
  if (!existing.includes(hookMarker(name))) return;
  fs.rmSync(hookFile);
  done.push(`removed ${hookFile}: the config says push: post-receive`);
}

/**
 * The config `fanout init` writes when there is none. Its examples are commented lines inside
 * `targets: [...]`, so removing the "# " of any of them leaves valid YAML and a valid config.
 */
export function starterConfig(repo: string, source: string, branch: string): string {
  return `# fanout config: every field is described in docs/reference/config.md (in fanout's package too).
repo: ${JSON.stringify(repo)}        # bare repository that receives pushes
branch: ${JSON.stringify(branch)}    # pushes to this branch deploy
source: ${JSON.stringify(source)}    # the pushed commit is checked out here; rsync's source
# One entry per web server: uncomment an example (remove its "# ") and edit it, for example:
targets: [
  # { name: web1, dest: "www1@192.168.9.226::web1", passwordFile: /etc/fanout/www1.pwd },  # rsync daemon module; the file: mode 600, the daemon password
  # { name: web2, dest: "deploy@192.168.9.228:/data/www/" },  # over ssh
  ]
exclude: ["*.swp"]
protect: []
`;
}

function writeStarterConfig(file: string, repo: string, source: string, branch: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, starterConfig(repo, source, branch), { mode: 0o644, flag: 'wx' });
}
