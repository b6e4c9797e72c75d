import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from './config.js';
import { FanoutError } from './errors.js';
import { createBareRepo, isBareRepo } from './git.js';
import { ensureDir } from './journal.js';
import { trustProblem } from './trust.js';

export interface InitOptions {
  configFile: string;
  repo: string | undefined;
  source: string | undefined;
  branch: string | undefined;
}

export const HOOK_MARKER = 'fanout post-receive hook';

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
  let source: string;
  let branch: string;
  let stateDir: string;
  if (fs.existsSync(configFile)) {
    const config = loadConfig(configFile);
    ({ repo, source, branch, stateDir } = config);
  } else {
    if (options.repo === undefined || options.source === undefined)
      throw new FanoutError(`config ${configFile} does not exist: give --repo and --source to write a starter config`);
    repo = path.resolve(options.repo);
    source = path.resolve(options.source);
    branch = options.branch ?? 'main';
    stateDir = path.join(repo, 'fanout');
    writeStarterConfig(configFile, repo, source, branch);
    done.push(`wrote a starter config to ${configFile}: add your targets`);
  }

  if (!fs.existsSync(repo)) {
    fs.mkdirSync(path.dirname(repo), { recursive: true });
    // git then refuses a pushed tree with a ".." or ".git" entry, or the same name twice
    await createBareRepo(repo, branch);
    done.push(`created bare repository ${repo} (receive.fsckObjects on)`);
  } else if (!(await isBareRepo(repo))) {
    throw new FanoutError(`repo ${repo} exists but is not a bare git repository`);
  }

  const hookFile = path.join(repo, 'hooks', 'post-receive');
  const hook = renderHook(configFile);
  const existing = fs.existsSync(hookFile) ? fs.readFileSync(hookFile, 'utf8') : undefined;
  if (existing !== undefined && !existing.includes(HOOK_MARKER))
    throw new FanoutError(`${hookFile} exists and was not written by fanout: move it aside, or call "fanout hook post-receive" from it`);
  if (existing !== hook) {
    ensureDir(path.dirname(hookFile));
    fs.writeFileSync(hookFile, hook, { mode: 0o755 });
    done.push(`${existing === undefined ? 'installed' : 'updated'} ${hookFile}`);
  }
  fs.chmodSync(hookFile, 0o755);

  if (!fs.existsSync(stateDir)) {
    ensureDir(stateDir);
    done.push(`created state directory ${stateDir}`);
  }
  if (!fs.existsSync(source)) {
    fs.mkdirSync(source, { recursive: true });
    done.push(`created source directory ${source}`);
  }
  if (done.length === 0) done.push(`already set up: ${repo} deploys branch ${branch} from ${source}`);
  return done;
}

/**
 * Why the fanout the hook runs could be changed by someone else, if it could: node, and each
 * file of this build (dist/), must belong to the user that runs it or root, with nothing above
 * them writable by others (`npm install -g` into a prefix a developer owns would hand that
 * developer every push).
 */
export function installationProblem(): string | undefined {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const built = fs.readdirSync(here).filter((name) => name.endsWith('.js')).map((name) => path.join(here, name));
  for (const file of [process.execPath, ...built]) {
    const problem = trustProblem(file);
    if (problem !== undefined) return problem;
  }
  return undefined;
}

/** The hook from hooks/post-receive with absolute paths, each single-quoted for sh. */
export function renderHook(configFile: string): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const template = fs.readFileSync(path.join(here, '..', 'hooks', 'post-receive'), 'utf8');
  const cli = path.join(here, 'cli.js');
  return template
    .replace('@NODE@', shellQuote(process.execPath))
    .replace('@CLI@', shellQuote(cli))
    .replace('@CONFIG@', shellQuote(configFile));
}

export function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

function writeStarterConfig(file: string, repo: string, source: string, branch: string): void {
  const text = `# fanout config: see the README for every field.
repo: ${JSON.stringify(repo)}        # bare repository that receives pushes
branch: ${JSON.stringify(branch)}    # pushes to this branch deploy
source: ${JSON.stringify(source)}    # the pushed commit is checked out here; rsync's source
targets: []
# Add one entry per web server, for example:
#  - name: web1
#    dest: www1@192.168.9.226::web1      # rsync daemon module
#    passwordFile: /etc/fanout/www1.pwd  # mode 600, holds the daemon password
#  - name: web2
#    dest: deploy@192.168.9.228:/data/www/  # over ssh
exclude: ["*.swp"]
protect: []
`;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text, { mode: 0o644, flag: 'wx' });
}
