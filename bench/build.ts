/**
 * The build scenario of `npm run bench`: a site of N pages built by Eleventy (pinned), 3 daemon
 * targets. A push that edits one page, through fanout (build on the update server, then the
 * engine sends what the build changed), against what a user would otherwise do (build, then a
 * full `rsync -a --delete` of the output to every target), and the floor (rsync of exactly the
 * files fanout sent, to every target in parallel).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { createFarm } from '../harness/farm.js';
import { startDaemon, type Daemon } from '../harness/rsyncd.js';
import { assertEqual, pushAll, rsyncTo, timed } from './lab/common.js';
import { pairedRatio, spread, type Spread } from './lab/stats.js';

export interface BuildRow {
  pages: number;
  fanoutPush: Spread;
  fanoutBuild: Spread;
  fanoutDeploy: Spread;
  /** files each target was sent by fanout */
  fanoutSent: number;
  plainBuild: Spread;
  plainRsync: Spread;
  /** files each target was sent by the full rsync */
  plainSent: number;
  floor: Spread;
  /** fanout's deploy against the floor, paired */
  deployToFloor: number;
}

const ELEVENTY = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../node_modules/@11ty/eleventy/cmd.cjs');

function writePages(root: string, pages: number): void {
  fs.mkdirSync(path.join(root, 'src/_includes'), { recursive: true });
  fs.mkdirSync(path.join(root, 'src/pages'), { recursive: true });
  fs.writeFileSync(path.join(root, 'src/_includes/base.njk'), '<!doctype html><title>{{ title }}</title><main>{{ content | safe }}</main>\n');
  for (let i = 0; i < pages; i += 1) fs.writeFileSync(path.join(root, `src/pages/p${i}.md`), `---\nlayout: base.njk\ntitle: Page ${i}\n---\n# Page ${i}\n\n${'Some text. '.repeat(40)}\n`);
}

function editPage(root: string, round: number): void {
  fs.writeFileSync(path.join(root, 'src/pages/p7.md'), `---\nlayout: base.njk\ntitle: Page 7\n---\n# Page 7, edit ${round}\n`);
}

async function eleventy(cwd: string): Promise<void> {
  await execa(process.execPath, [ELEVENTY, '--input=src', '--output=_site', '--quiet'], { cwd });
}

export async function buildScenario(options: { pages: number; reps: number; firstHost: number }, say: (line: string) => void): Promise<BuildRow> {
  const farm = await createFarm({ targets: 3, firstHost: options.firstHost, config: { timeout: 600 } });
  const plainRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'fanout-bench-build-'));
  const plain: Daemon[] = [];
  try {
    for (let i = 0; i < 3; i += 1) plain.push(await startDaemon({ hostIndex: options.firstHost + 3 + i, root: plainRoot, name: `plain${i + 1}` }));
    farm.writeConfig({ timeout: 600, build: { command: [process.execPath, ELEVENTY, '--input=src', '--output=_site', '--quiet'], output: '_site', timeout: 1200 } });
    say(`[build, ${options.pages} pages] the site, its first build and deploy, and the plain targets' first sync`);
    writePages(farm.clone, options.pages);
    writePages(plainRoot, options.pages);
    await farm.commit('site');
    await pushAll(farm, 3);
    await eleventy(plainRoot);
    const site = path.join(plainRoot, '_site');
    await Promise.all(plain.map((d) => rsyncTo(d, site, ['--delete'])));

    const t = { push: [] as number[], build: [] as number[], deploy: [] as number[], plainBuild: [] as number[], plainRsync: [] as number[], floor: [] as number[] };
    let fanoutSent = 0;
    let plainSent = 0;
    for (let round = 1; round <= options.reps; round += 1) {
      say(`[build, ${options.pages} pages] one page edited, round ${round}`);
      editPage(farm.clone, round);
      await farm.commit(`edit ${round}`);
      t.push.push(await timed(() => pushAll(farm, 3)));
      const entry = farm.history().at(-1);
      if (entry?.build === undefined || entry.build.reused) throw new Error('the push did not build');
      t.build.push(entry.build.durationMs);
      t.deploy.push(Date.parse(entry.finishedAt) - Date.parse(entry.startedAt));
      fanoutSent = entry.targets[0]?.sent ?? 0;

      editPage(plainRoot, round);
      t.plainBuild.push(await timed(() => eleventy(plainRoot)));
      let sent = 0;
      t.plainRsync.push(
        await timed(async () => {
          const results = await Promise.all(plain.map((d) => rsyncTo(d, site, ['--delete', '--out-format=%i %n'])));
          sent = results[0]?.stdout.split('\n').filter((l) => /^[<>]f/.test(l)).length ?? 0;
        }),
      );
      plainSent = sent;
      // the floor: exactly the page fanout sent, to every target in parallel
      t.floor.push(await timed(() => Promise.all(plain.map((d) => rsyncTo(d, site, ['--files-from=-'], 'pages/p7/index.html\n')))));
    }
    for (const d of farm.daemons) await assertEqual(farm.source, d.dir);
    for (const d of plain) await assertEqual(site, d.dir);
    return {
      pages: options.pages,
      fanoutPush: spread(t.push),
      fanoutBuild: spread(t.build),
      fanoutDeploy: spread(t.deploy),
      fanoutSent,
      plainBuild: spread(t.plainBuild),
      plainRsync: spread(t.plainRsync),
      plainSent,
      floor: spread(t.floor),
      deployToFloor: pairedRatio(t.deploy, t.floor),
    };
  } finally {
    await Promise.all(plain.map((d) => d.stop()));
    fs.rmSync(plainRoot, { recursive: true, force: true });
    await farm.cleanup();
  }
}

export function buildMarkdown(row: BuildRow | undefined): string[] {
  if (row === undefined) return [];
  const s = (x: Spread): string => `${(x.median / 1000).toFixed(2)} s`;
  return [
    `## Build on the update server: Eleventy, ${row.pages} pages, one page edited, 3 daemon targets`,
    '',
    '| approach | build | deploy | files sent to each target |',
    '| --- | ---: | ---: | ---: |',
    `| fanout: git push (build, then the changed files) | ${s(row.fanoutBuild)} | ${s(row.fanoutDeploy)} (push in all ${s(row.fanoutPush)}) | ${row.fanoutSent} |`,
    `| build, then a full rsync -a --delete to each target | ${s(row.plainBuild)} | ${s(row.plainRsync)} | ${row.plainSent} |`,
    `| floor: rsync of exactly the changed file | | ${s(row.floor)} | 1 |`,
    '',
    `fanout's deploy against the floor: ${row.deployToFloor.toFixed(2)}x (paired).`,
    '',
  ];
}
