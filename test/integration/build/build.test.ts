import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CLI, createFarm, type Farm } from '../../../harness/farm.js';
import { snapshot } from '../../../harness/tree.js';
import { startWatch, until, type Watcher } from '../../../harness/watcher.js';

// Builds on the update server with a small build script of the operator's: each page in src/ is
// turned into _site/NAME.html; it counts its runs in a file outside the repository.

let farm: Farm;
let runs: string;

const BUILD = `#!/bin/sh
set -e
echo run >> "$RUNS"
mkdir -p _site
[ -e edits ] && echo edited >> src/index.md
for f in src/*.md; do
  name=$(basename "$f" .md)
  echo "building $name"
  { echo "<h1>$name</h1>"; cat "$f"; } > "_site/$name.html"
done
[ -e fail ] && { echo "template error in page.md" >&2; exit 2; }
if [ -e slow ] || [ -e "$RUNS.slow" ]; then sleep 30 & echo $! > "$RUNS.sleeper"; wait; fi
[ -e empty ] && rm -rf _site/*
[ -e "$RUNS.daemon" ] && { sleep 30 >/dev/null 2>&1 & echo $! > "$RUNS.daemon.pid"; }
[ -e "$RUNS.escapes" ] && { setsid sleep 90 & echo $! > "$RUNS.escapes.pid"; }
[ -e attrs ] && cp attrs _site/.gitattributes
[ -e writes-media ] && mkdir -p _site/up/media && echo built > _site/up/media/x.html
[ -e leftover ] && { mkdir -p tmp && cp src/*.md tmp/ && cp tmp/*.md _site/; }
if [ -n "$CACHED" ]; then
  mkdir -p .cache/deep .cache/other
  echo $(( $(cat .cache/deep/n 2>/dev/null || echo 0) + 1 )) > .cache/deep/n
  cp .cache/deep/n _site/n.html
fi
exit 0
`;

function configure(build: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): void {
  farm.writeConfig({ build: { command: ['sh', 'build.sh'], output: '_site', env: { RUNS: runs }, timeout: 30, ...build }, ...extra });
}

beforeEach(async () => {
  farm = await createFarm({ targets: 2, firstHost: 190 });
  runs = path.join(farm.root, 'runs');
  configure();
});

afterEach(async () => {
  await farm.cleanup();
});

async function pushed(files: Record<string, string>, message: string, remove: string[] = []): Promise<{ commit: string; stderr: string }> {
  farm.write(files);
  if (remove.length > 0) farm.remove(...remove);
  const commit = await farm.commit(message);
  return { commit, stderr: (await farm.push()).stderr };
}

/** Whether a process runs: neither gone nor a zombie left for init to reap. */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

function runCount(): number {
  return fs.existsSync(runs) ? fs.readFileSync(runs, 'utf8').trim().split('\n').length : 0;
}

describe('a build on the update server', () => {
  it('deploys the built output, not the sources; the next push sends only the pages that changed', async () => {
    const first = await pushed({ 'build.sh': BUILD, 'src/index.md': 'home', 'src/about.md': 'about' }, 'site');
    expect(first.stderr).toMatch(/remote: build of [0-9a-f]{10}: sh build\.sh/);
    expect(first.stderr).toMatch(/remote: build: building about/);
    expect(first.stderr).toMatch(/remote: build of [0-9a-f]{10}: done in [\d.]+s, [0-9a-f]{10}/);
    for (const d of farm.daemons) {
      expect([...snapshot(d.dir).keys()].filter((k) => !k.startsWith('.~tmp~')).sort()).toEqual(['about.html', 'index.html']);
      expect(fs.readFileSync(path.join(d.dir, 'index.html'), 'utf8')).toBe('<h1>index</h1>\nhome');
    }
    const ref = await execa('git', ['--git-dir', farm.repo, 'rev-parse', `refs/fanout/builds/${first.commit}`]);
    expect(farm.history().at(-1)).toMatchObject({ commit: ref.stdout.trim(), build: { source: first.commit, reused: false } });
    expect(fs.existsSync(path.join(farm.stateDir, 'builds', `${first.commit}.log`))).toBe(true);
    // the bare repository's own HEAD and index never moved
    expect(fs.existsSync(path.join(farm.repo, 'index'))).toBe(false);

    const second = await pushed({ 'src/about.md': 'about us' }, 'edit about');
    for (const d of farm.daemons) expect(second.stderr).toMatch(new RegExp(`remote: +${d.name} +ok +1 sent`));
    expect(runCount()).toBe(2);
    expect((await farm.fanout(['verify'])).exitCode).toBe(0);
    const status = await farm.fanout(['status']);
    expect(status.stdout).toMatch(new RegExp(`built from ${second.commit.slice(0, 10)} in [\\d.]+s; its log: .*builds/${second.commit}\\.log`));
    // the branch tip is a source commit, deployed as its build
    expect(status.stdout).not.toMatch(/not deployed/);
    const json = JSON.parse((await farm.fanout(['status', '--json'])).stdout) as { current: { build: { source: string } } };
    expect(json.current.build.source).toBe(second.commit);
    const history = await farm.fanout(['history', '--limit', '1']);
    expect(history.stdout).toMatch(new RegExp(`[0-9a-f]{10} \\(build of ${second.commit.slice(0, 10)}, [\\d.]+s\\)`));
  });

  it('each build starts from exactly the commit, but for the cache paths: nothing an earlier build left or edited', async () => {
    configure({ env: { RUNS: runs, CACHED: '1' }, cache: ['.cache/deep'] });
    await pushed({ 'build.sh': BUILD, 'src/index.md': 'v1', 'src/secret.md': 'secret', leftover: '', edits: '' }, 'v1');
    const v2 = await pushed({ 'src/about.md': 'about' }, 'v2', ['src/secret.md']);
    expect(v2.stderr).toMatch(/remote: +web1 +ok/);
    for (const d of farm.daemons) {
      // v1's build staged secret.md in tmp/: gone with v1
      expect(fs.existsSync(path.join(d.dir, 'secret.md'))).toBe(false);
      expect(fs.existsSync(path.join(d.dir, 'about.md'))).toBe(true);
      // the build edits src/index.md in place: v2's build starts from the commit's
      expect(fs.readFileSync(path.join(d.dir, 'index.html'), 'utf8')).toBe('<h1>index</h1>\nv1edited\n');
      // .cache/deep, inside a directory git does not know, is kept: the second build counts 2
      expect(fs.readFileSync(path.join(d.dir, 'n.html'), 'utf8')).toBe('2\n');
    }
  });

  it('a name fanout refuses (a component over 255 bytes) is refused before the build touches anything', async () => {
    await pushed({ 'build.sh': BUILD, 'src/index.md': 'v1' }, 'v1');
    // written by fast-import: no file system could hold the name in the clone either
    const head = (await farm.git(['rev-parse', 'HEAD'])).stdout.trim();
    const stream = `commit refs/heads/crafted\ncommitter T <t@example.invalid> 0 +0000\ndata 4\nlong\nfrom ${head}\nM 100644 inline src/${'n'.repeat(300)}.md\ndata 3\nbad\n\n`;
    await execa('git', ['fast-import', '--quiet'], { cwd: farm.clone, input: stream });
    await execa('git', ['reset', '-q', '--soft', 'crafted'], { cwd: farm.clone });
    const push = await farm.push();
    expect(push.stderr).toMatch(/remote: fanout: commit [0-9a-f]{10} names a name of 303 bytes \(the limit is 255\): "src\/n{10,}.*"; refusing to build it, nothing was touched/);
    expect(runCount()).toBe(1);
    for (const d of farm.daemons) expect(fs.readFileSync(path.join(d.dir, 'index.html'), 'utf8')).toBe('<h1>index</h1>\nv1');
  });

  it('a .gitattributes the commit adds or changes reaches every file of the build worktree', async () => {
    await pushed({ 'build.sh': BUILD, 'src/index.md': 'v1\n' }, 'v1');
    await pushed({ '.gitattributes': 'src/*.md eol=crlf\n' }, 'crlf');
    for (const d of farm.daemons) expect(fs.readFileSync(path.join(d.dir, 'index.html'), 'utf8')).toBe('<h1>index</h1>\nv1\r\n');
    await pushed({ '.gitattributes': '' }, 'lf again');
    for (const d of farm.daemons) expect(fs.readFileSync(path.join(d.dir, 'index.html'), 'utf8')).toBe('<h1>index</h1>\nv1\n');
  });

  it('a build whose output lies below a symlink in the commit is refused; nothing is removed through it', async () => {
    configure({ output: 'site/public' });
    const outside = path.join(farm.root, 'outside');
    fs.mkdirSync(path.join(outside, 'public'), { recursive: true });
    fs.writeFileSync(path.join(outside, 'public', 'index.html'), "not fanout's");
    farm.write({ 'build.sh': BUILD, 'src/index.md': 'v1', site: { symlink: outside } });
    await farm.commit('site is a link');
    const push = await farm.push();
    expect(push.stderr).toMatch(/remote: fanout: the build of [0-9a-f]{10} failed: .*build\/tree\/site is a symlink above build\.output, and fanout removes and commits nothing through one \(site\/public\); nothing was deployed/);
    expect(fs.readFileSync(path.join(outside, 'public', 'index.html'), 'utf8')).toBe("not fanout's");
    expect(runCount()).toBe(0);
    for (const d of farm.daemons) expect(fs.readdirSync(d.dir)).toEqual([]);
  });

  it('a rollback, and a redeploy, reuse the build: nothing is rebuilt', async () => {
    const v1 = await pushed({ 'build.sh': BUILD, 'src/index.md': 'v1' }, 'v1');
    await pushed({ 'src/index.md': 'v2' }, 'v2');
    expect(runCount()).toBe(2);
    const back = await farm.fanout(['rollback']);
    expect(back.exitCode).toBe(0);
    expect(runCount()).toBe(2);
    for (const d of farm.daemons) expect(fs.readFileSync(path.join(d.dir, 'index.html'), 'utf8')).toBe('<h1>index</h1>\nv1');
    const again = await farm.fanout(['deploy', v1.commit]);
    expect(again.stdout).toMatch(/build of [0-9a-f]{10}: reused/);
    expect(runCount()).toBe(2);
  });

  it('a build that fails, times out or leaves no output deploys nothing; the pusher sees why and where the log is', async () => {
    await pushed({ 'build.sh': BUILD, 'src/index.md': 'good' }, 'good');
    const before = farm.daemons.map((d) => snapshot(d.dir));
    const failed = await pushed({ 'src/index.md': 'bad', fail: '' }, 'bad');
    expect(failed.stderr).toMatch(/remote: build of [0-9a-f]{10} FAILED \(exit 2\); its last lines:/);
    expect(failed.stderr).toMatch(/remote: +template error in page\.md/);
    expect(failed.stderr).toMatch(new RegExp(`remote: fanout: the build of ${failed.commit.slice(0, 10)} failed: exit 2; nothing was deployed\\. The whole log: .*builds/${failed.commit}\\.log`));
    farm.daemons.forEach((d, i) => {
      expect(snapshot(d.dir)).toEqual(before[i]);
    });

    configure({ timeout: 1 });
    const slow = await pushed({ slow: '' }, 'slow', ['fail']);
    expect(slow.stderr).toMatch(/failed: it did not finish within 1s \(build\.timeout\); nothing was deployed/);
    // the build's own children went with it
    const sleeper = Number(fs.readFileSync(`${runs}.sleeper`, 'utf8'));
    for (let i = 0; i < 50 && running(sleeper); i += 1) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(running(sleeper)).toBe(false);
    configure();
    const empty = await pushed({ empty: '' }, 'empty', ['slow']);
    expect(empty.stderr).toMatch(/failed: _site\/ is empty; nothing was deployed/);
    configure({ output: 'public' });
    const none = await pushed({ 'src/x.md': 'x' }, 'no output', ['empty']);
    expect(none.stderr).toMatch(/failed: it left no public\/ \(build\.output\); nothing was deployed/);
    // an output that is a symlink (to / here) is never committed: git would record what it points to
    configure({ command: ['sh', '-c', 'ln -s / public'], output: 'public' });
    const linked = await pushed({ 'src/y.md': 'y' }, 'output is a symlink');
    expect(linked.stderr).toMatch(/failed: public is not a directory \(a symlink, say\), and only a directory is committed; nothing was deployed/);
    farm.daemons.forEach((d, i) => {
      expect(snapshot(d.dir)).toEqual(before[i]);
    });
  });

  it('a build whose fanout is killed is discarded; the next build stops what it left running and builds afresh', async () => {
    await pushed({ 'build.sh': BUILD, 'src/index.md': 'v1' }, 'v1');
    farm.write({ 'src/index.md': 'v2' });
    const v2 = await farm.commit('v2');
    // into the repository without a deploy: the branch fanout deploys is main
    await farm.push(['origin', 'HEAD:refs/heads/side']);
    fs.writeFileSync(`${runs}.slow`, '');
    const killed = execa(process.execPath, [CLI, '--config', farm.configFile, 'deploy', v2], { reject: false });
    let sleeper = 0;
    try {
      await until(() => fs.existsSync(`${runs}.sleeper`), () => 'the build did not start');
      sleeper = Number(fs.readFileSync(`${runs}.sleeper`, 'utf8'));
      killed.kill('SIGKILL');
      await killed;
      // fanout is gone; its build is not
      expect(running(sleeper)).toBe(true);
      expect((await execa('git', ['--git-dir', farm.repo, 'rev-parse', '--verify', '--quiet', `refs/fanout/builds/${v2}`], { reject: false })).exitCode).not.toBe(0);
      fs.rmSync(`${runs}.slow`);
      const again = await farm.fanout(['deploy', v2]);
      expect(again.exitCode).toBe(0);
      expect(again.stdout).toMatch(/stopped 2 processes \(rsync, git, a build\) left running by a fanout that died \(pid \d+, manual by /);
      expect(running(sleeper)).toBe(false);
      expect(runCount()).toBe(3);
      for (const d of farm.daemons) expect(fs.readFileSync(path.join(d.dir, 'index.html'), 'utf8')).toBe('<h1>index</h1>\nv2');
      expect(farm.history().at(-1)).toMatchObject({ build: { source: v2, reused: false } });
    } finally {
      killed.kill('SIGKILL');
      if (sleeper > 0 && running(sleeper)) process.kill(sleeper, 'SIGKILL');
    }
  });

  it('what a build leaves running in the background is stopped with it', async () => {
    fs.writeFileSync(`${runs}.daemon`, '');
    let left = 0;
    try {
      const push = await pushed({ 'build.sh': BUILD, 'src/index.md': 'v1' }, 'v1');
      expect(push.stderr).toMatch(/remote: +web1 +ok/);
      left = Number(fs.readFileSync(`${runs}.daemon.pid`, 'utf8'));
      expect(left).toBeGreaterThan(1);
      expect(running(left)).toBe(false);
    } finally {
      if (left > 1 && running(left)) process.kill(left, 'SIGKILL');
    }
  });

  it('a process that leaves the build\'s group holding its output open cannot hold the deploy past build.timeout', async () => {
    fs.writeFileSync(`${runs}.escapes`, '');
    configure({ timeout: 1 });
    let escaped = 0;
    try {
      const push = await pushed({ 'build.sh': BUILD, 'src/index.md': 'v1' }, 'v1');
      escaped = Number(fs.readFileSync(`${runs}.escapes.pid`, 'utf8'));
      expect(push.stderr).toMatch(/failed: it did not finish within 1s \(build\.timeout\); nothing was deployed/);
      for (const d of farm.daemons) expect(fs.readdirSync(d.dir)).toEqual([]);
    } finally {
      if (escaped > 1 && running(escaped)) process.kill(escaped, 'SIGKILL');
    }
  });

  it('a rollback to a pruned build of a source built anew since keeps both builds, each under its own ref', async () => {
    configure({ keep: 2 });
    const v1 = (await pushed({ 'build.sh': BUILD, 'src/index.md': 'v1' }, 'v1')).commit;
    await pushed({ 'src/index.md': 'v2' }, 'v2');
    await pushed({ 'src/index.md': 'v3' }, 'v3');
    const first = farm.history()[0]?.commit ?? '';
    // v1's build was pruned; v1 deployed again is built anew
    expect((await farm.fanout(['deploy', v1])).exitCode).toBe(0);
    expect(runCount()).toBe(4);
    const rebuilt = farm.history().at(-1)?.commit ?? '';
    expect(rebuilt).not.toBe(first);
    // back to the first build by its sha: kept beside the newer one, whose ref stays
    expect((await farm.fanout(['rollback', first])).exitCode).toBe(0);
    expect(runCount()).toBe(4);
    const refs = (await execa('git', ['--git-dir', farm.repo, 'for-each-ref', '--format=%(refname) %(objectname)', 'refs/fanout/builds/'])).stdout.split('\n').sort();
    expect(refs).toEqual([`refs/fanout/builds/${v1} ${rebuilt}`, `refs/fanout/builds/${v1}.${first} ${first}`].sort());
    const again = await farm.fanout(['deploy', v1]);
    expect(again.stdout).toMatch(new RegExp(`build of ${v1.slice(0, 10)}: reused \\(${rebuilt.slice(0, 10)}\\)`));
  });

  it('build.keep prunes build refs nothing holds; watch refuses a build', async () => {
    configure({ keep: 1 });
    const commits: string[] = [];
    for (const n of [1, 2, 3]) commits.push((await pushed({ 'build.sh': BUILD, 'src/index.md': `v${n}` }, `v${n}`)).commit);
    const refs = (await execa('git', ['--git-dir', farm.repo, 'for-each-ref', '--format=%(refname)', 'refs/fanout/builds/'])).stdout.split('\n');
    // every target holds v3's build; nothing holds v1's or v2's any more
    expect(refs).toEqual([`refs/fanout/builds/${commits[2] ?? ''}`]);
    // the logs go with them: v3's, whose build is kept, and the newest one besides (keep: 1)
    expect(fs.readdirSync(path.join(farm.stateDir, 'builds')).sort()).toEqual([`${commits[1] ?? ''}.log`, `${commits[2] ?? ''}.log`].sort());

    // a rollback to v2, whose ref was pruned: its build commit is kept again and sent, nothing rebuilt
    const back = await farm.fanout(['rollback']);
    expect(back.exitCode).toBe(0);
    expect(back.stdout).toMatch(/build of [0-9a-f]{10}: reused \([0-9a-f]{10}, kept again\)/);
    expect(runCount()).toBe(3);
    for (const d of farm.daemons) expect(fs.readFileSync(path.join(d.dir, 'index.html'), 'utf8')).toBe('<h1>index</h1>\nv2');
    // once git's gc has reclaimed v1's build, a rollback to it builds v1 again
    await execa('git', ['--git-dir', farm.repo, 'gc', '--quiet', '--prune=now']);
    const v1build = farm.history()[0]?.commit ?? '';
    expect((await execa('git', ['--git-dir', farm.repo, 'cat-file', '-e', v1build], { reject: false })).exitCode).not.toBe(0);
    const further = await farm.fanout(['rollback']);
    expect(further.exitCode).toBe(0);
    expect(runCount()).toBe(4);
    expect(farm.history().at(-1)).toMatchObject({ reason: 'rollback', build: { source: commits[0], reused: false } });
    for (const d of farm.daemons) expect(fs.readFileSync(path.join(d.dir, 'index.html'), 'utf8')).toBe('<h1>index</h1>\nv1');

    const watch = await farm.fanout(['watch']);
    expect(watch.exitCode).toBe(2);
    expect(watch.stderr).toMatch(/fanout watch mirrors the source directory, but with build: it holds built output/);
  });
});

describe('a real static site generator: Eleventy, pinned in package.json', () => {
  it('a 2,000-page site; editing one page sends each host only the pages the generator really changed', async () => {
    const eleventy = path.resolve(import.meta.dirname, '../../../node_modules/@11ty/eleventy/cmd.cjs');
    farm.writeConfig({ build: { command: [process.execPath, eleventy, '--input=src', '--output=_site', '--quiet'], output: '_site', timeout: 300 } });
    const files: Record<string, string> = { 'src/_includes/base.njk': '<!doctype html><title>{{ title }}</title><main>{{ content | safe }}</main>\n' };
    for (let i = 0; i < 2000; i += 1) files[`src/pages/p${i}.md`] = `---\nlayout: base.njk\ntitle: Page ${i}\n---\n# Page ${i}\n\nSome text for page ${i}.\n`;
    const first = await pushed(files, 'a 2,000-page site');
    expect(first.stderr).toMatch(/remote: build of [0-9a-f]{10}: done in/);
    for (const d of farm.daemons) expect(fs.readFileSync(path.join(d.dir, 'pages/p7/index.html'), 'utf8')).toContain('<h1>Page 7</h1>');
    const edit = await pushed({ 'src/pages/p7.md': '---\nlayout: base.njk\ntitle: Page 7\n---\n# Page seven, edited\n' }, 'edit one page');
    // every page was generated again; only the one whose output changed is sent
    for (const d of farm.daemons) {
      expect(edit.stderr).toMatch(new RegExp(`remote: +${d.name} +ok +1 sent`));
      expect(fs.readFileSync(path.join(d.dir, 'pages/p7/index.html'), 'utf8')).toContain('Page seven, edited');
    }
    expect((await farm.fanout(['verify'])).exitCode).toBe(0);
  }, 180_000);

  it('watch.path: watch mirrors that directory as it is beside the built output; pushes keep it; no build may write it', async () => {
    configure({}, { watch: { path: 'up/media' } });
    await pushed({ 'build.sh': BUILD, 'src/index.md': 'v1' }, 'v1');
    const missing = await farm.fanout(['watch']);
    expect(missing.exitCode).not.toBe(0);
    expect(missing.stderr).toMatch(/watch\.path up\/media: .*up\/media is not a directory; create it/);
    fs.mkdirSync(path.join(farm.source, 'up/media'), { recursive: true });
    let watcher: Watcher | undefined = await startWatch(farm.configFile);
    try {
      // an edit of the built output is not watched; one in up/media is sent as it is
      fs.writeFileSync(path.join(farm.source, 'stray.html'), 'edited by hand');
      fs.writeFileSync(path.join(farm.source, 'up/media/photo.jpg'), 'jpeg');
      const sent = (): boolean => farm.daemons.every((d) => fs.existsSync(path.join(d.dir, 'up/media/photo.jpg')));
      await until(sent, () => `photo.jpg not sent: ${watcher?.lines.join('\n') ?? ''}`);
      expect(watcher.lines.some((l) => l.startsWith(`watching ${path.join(farm.source, 'up/media')} for`))).toBe(true);
    } finally {
      await watcher.stop();
      watcher = undefined;
    }
    for (const d of farm.daemons) expect(fs.existsSync(path.join(d.dir, 'stray.html'))).toBe(false);

    // a push whose build changes .gitattributes rewrites the source whole: what git lacks goes, but up/media stays
    fs.writeFileSync(path.join(farm.source, 'up/stray.txt'), 'not the operator\'s mirror');
    const v2 = await pushed({ 'src/index.md': 'v2', attrs: '*.html text\n' }, 'v2');
    expect(v2.stderr).toMatch(/remote: +web1 +ok/);
    expect(fs.readFileSync(path.join(farm.source, 'up/media/photo.jpg'), 'utf8')).toBe('jpeg');
    expect(fs.existsSync(path.join(farm.source, 'up/stray.txt'))).toBe(false);
    for (const d of farm.daemons) {
      expect(fs.readFileSync(path.join(d.dir, 'index.html'), 'utf8')).toBe('<h1>index</h1>\nv2');
      expect(fs.readFileSync(path.join(d.dir, 'up/media/photo.jpg'), 'utf8')).toBe('jpeg');
    }
    expect((await farm.fanout(['sync', '--full'])).exitCode).toBe(0);
    for (const d of farm.daemons) expect(fs.existsSync(path.join(d.dir, 'up/media/photo.jpg'))).toBe(true);

    // a build that writes the mirrored directory would overwrite it: refused, nothing touched
    const before = farm.daemons.map((d) => snapshot(d.dir));
    const writes = await pushed({ 'writes-media': '' }, 'build writes up/media');
    expect(writes.stderr).toMatch(/remote: fanout: build [0-9a-f]{10} contains "up\/media", the directory fanout watch mirrors as it is \(watch\.path: in the config\)/);
    farm.daemons.forEach((d, i) => {
      expect(snapshot(d.dir)).toEqual(before[i]);
    });
    expect(fs.readFileSync(path.join(farm.source, 'up/media/photo.jpg'), 'utf8')).toBe('jpeg');
  });
});

describe('watch.path behind a symlink made by hand', () => {
  it('a whole rewrite of the source is refused, naming the link: nothing is removed, through it or otherwise', async () => {
    configure({}, { watch: { path: 'up/media' } });
    await pushed({ 'build.sh': BUILD, 'src/index.md': 'v1' }, 'v1');
    // `up` is a link to a directory on another disk: the kept directory is reached through it
    const outside = path.join(farm.root, 'outside');
    fs.mkdirSync(path.join(outside, 'media'), { recursive: true });
    fs.writeFileSync(path.join(outside, 'precious.txt'), "not the source's");
    fs.writeFileSync(path.join(outside, 'media', 'photo.jpg'), 'jpeg');
    fs.symlinkSync(outside, path.join(farm.source, 'up'));
    fs.writeFileSync(path.join(farm.source, 'stray.html'), 'not in git');

    const v2 = await pushed({ 'src/index.md': 'v2', attrs: '*.html text\n' }, 'v2');
    expect(v2.stderr).toMatch(/remote: fanout: .*\/up is a symlink git does not have there; fanout removes and writes nothing through one/);
    expect(fs.lstatSync(path.join(farm.source, 'up')).isSymbolicLink()).toBe(true);
    expect(fs.existsSync(path.join(farm.source, 'stray.html'))).toBe(true);
    expect(fs.readFileSync(path.join(outside, 'precious.txt'), 'utf8')).toBe("not the source's");
    expect(fs.readFileSync(path.join(outside, 'media', 'photo.jpg'), 'utf8')).toBe('jpeg');
    for (const d of farm.daemons) expect(fs.readFileSync(path.join(d.dir, 'index.html'), 'utf8')).toBe('<h1>index</h1>\nv1');

    // the link replaced by the directory itself: the same push goes through
    fs.rmSync(path.join(farm.source, 'up'));
    fs.cpSync(outside, path.join(farm.source, 'up'), { recursive: true });
    expect((await farm.fanout(['deploy'])).exitCode).toBe(0);
    for (const d of farm.daemons) {
      expect(fs.readFileSync(path.join(d.dir, 'index.html'), 'utf8')).toBe('<h1>index</h1>\nv2');
      expect(fs.readFileSync(path.join(d.dir, 'up/media/photo.jpg'), 'utf8')).toBe('jpeg');
    }
  });
});

