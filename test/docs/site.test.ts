import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { brokenSiteLinks, pageRefs } from '../../scripts/docs/check-site.js';
import { NAV, sitePath, toRoot } from '../../scripts/docs/layout.js';
import { docsPages, REPO } from '../../scripts/docs/markdown.js';
import { siteLink } from '../../scripts/docs/site.js';

// The documentation site, built as `npm run docs` builds it (Eleventy, offline) into a directory of
// its own: it builds, every link and anchor of every page resolves, nothing is loaded from the
// network, and every page is in the navigation and the search.

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'fanout-docs-site-'));
const out = path.join(scratch, 'site');
let build: { exitCode?: number; stdout: string; stderr: string };

beforeAll(async () => {
  build = await execa(path.join(REPO, 'node_modules', '.bin', 'tsx'), ['scripts/docs/site.ts', '--out', out], { cwd: REPO, reject: false, env: { NO_COLOR: '1' } });
}, 180_000);

afterAll(() => {
  fs.rmSync(scratch, { recursive: true, force: true });
});

describe('the documentation site', () => {
  it('builds, and every link and anchor of the markdown and of the site resolves', () => {
    expect(build.exitCode, build.stderr).toBe(0);
    expect(build.stdout).toMatch(/every link and anchor resolves/);
    expect(brokenSiteLinks(out)).toEqual([]);
  });

  it('has a page for every page of docs/, each in the navigation', () => {
    const pages = docsPages();
    expect(pages.filter((p) => !fs.existsSync(path.join(out, sitePath(p))))).toEqual([]);
    expect(NAV.flatMap((part) => part.pages).sort()).toEqual(pages);
    const home = fs.readFileSync(path.join(out, 'index.html'), 'utf8');
    for (const p of pages) expect(home, p).toContain(`href="${sitePath(p)}"`);
  });

  it('searches every page, section by section, with an index and a script of its own', () => {
    const script = fs.readFileSync(path.join(out, 'assets', 'search-index.js'), 'utf8');
    const index = JSON.parse(script.replace(/^window\.FANOUT_SEARCH = /, '').replace(/;\n$/, '')) as { url: string; heading: string }[];
    expect(docsPages().filter((p) => !index.some((e) => e.url.startsWith(`${sitePath(p)}#`)))).toEqual([]);
    // a config field, a row of the config reference, is found by its name
    expect(index.some((e) => e.heading.endsWith('watch.settleMs') && e.url === 'reference/config.html#top-level')).toBe(true);
    const page = fs.readFileSync(path.join(out, 'guides', 'watch.html'), 'utf8');
    expect(pageRefs(page).refs.filter((r) => r.tag === 'script').map((r) => r.url)).toEqual(['../assets/search-index.js', '../assets/search.js']);
  });

  it("gives each heading GitHub's anchor, so one link works on GitHub and on the site", () => {
    const { ids } = pageRefs(fs.readFileSync(path.join(out, 'reference', 'commands.html'), 'utf8'));
    expect(ids.has('fanout-lock--m-why')).toBe(true);
    expect(ids.has('options-of-the-commands-that-deploy')).toBe(true);
  });
});

describe("the site's links", () => {
  it('turns a link to a page of docs/ into its page of the site, and one out of docs/ into its copy', () => {
    const repoFiles = new Set<string>();
    expect(siteLink('../reference/commands.md#fanout-lock--m-why', 'guides/watch.md', repoFiles)).toBe('../reference/commands.html#fanout-lock--m-why');
    expect(siteLink('guides/watch.md', 'README.md', repoFiles)).toBe('guides/watch.html');
    expect(siteLink('../README.md', 'guides/watch.md', repoFiles)).toBe('../index.html');
    expect(siteLink('#progress', 'reference/commands.md', repoFiles)).toBe('#progress');
    expect(siteLink('https://example.com/', 'README.md', repoFiles)).toBe('https://example.com/');
    expect(siteLink('../bench-results/scale-out.svg', 'benchmark.md', repoFiles)).toBe('_repo/bench-results/scale-out.svg');
    expect([...repoFiles]).toEqual(['bench-results/scale-out.svg']);
    expect(toRoot('guides/watch.html')).toBe('../');
    expect(toRoot('index.html')).toBe('');
  });

  it('names a link to a missing page or id, and anything loaded from the network', () => {
    const dir = path.join(scratch, 'broken');
    fs.mkdirSync(path.join(dir, 'guides'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'index.html'), '<h1 id="top">x</h1><a href="guides/a.html#there">ok</a><a href="guides/b.html">gone</a><a href="guides/a.html#nowhere">no id</a><a href="https://example.com/">out</a><script src="https://cdn.example.com/x.js"></script>');
    fs.writeFileSync(path.join(dir, 'guides', 'a.html'), '<h2 id="there">there</h2><a href="../index.html#top">back</a>');
    expect(brokenSiteLinks(dir)).toEqual([
      'index.html: guides/b.html (no such file in the site: guides/b.html)',
      'index.html: guides/a.html#nowhere (no id "nowhere" in guides/a.html)',
      'index.html: https://cdn.example.com/x.js (loaded from outside the site: it must build and read offline)',
    ]);
  });
});
