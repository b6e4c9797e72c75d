import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import Eleventy, { type MarkdownState, type MarkdownToken, type UserConfig } from '@11ty/eleventy';
import { brokenLinks, docsPages, headingText, headings, isExternal, REPO, slugger } from './markdown.js';
import { NAV, pageHtml, sitePath, type PageFacts } from './layout.js';
import { brokenSiteLinks } from './check-site.js';

// The documentation site: docs/*.md rendered by Eleventy (pinned in package.json) into static
// pages with the navigation and a search of their own, nothing loaded from the network.
// `npm run docs` builds it into site/ and checks that every link and anchor resolves.
//
// Links stay as they are written for GitHub (relative, to .md files); the build turns them into
// the site's .html pages, and a link out of docs/ (a benchmark report, a chart) into a copy of that
// file under _repo/. Anchors are GitHub's, made the same way on both.

const DOCS = path.join(REPO, 'docs');
const ASSETS = path.join(import.meta.dirname, 'assets');

/** A section of a page, as the search finds it. */
interface SearchEntry {
  /** the page's title */
  page: string;
  heading: string;
  /** from the site's top: guides/watch.html#watch-or-push */
  url: string;
  text: string;
}

/** What a build gathers while Eleventy renders: the sections to search, and the files of the repository linked from docs/. */
interface Gathered {
  search: SearchEntry[];
  repoFiles: Set<string>;
}

/** Where a link written in `docsPath` leads on the site, from that page; repository files it names are noted in `repoFiles`. */
export function siteLink(target: string, docsPath: string, repoFiles: Set<string>): string {
  if (isExternal(target) || target.startsWith('#')) return target;
  const [file = '', anchor] = target.split('#', 2);
  const here = path.posix.dirname(docsPath);
  const resolved = path.posix.normalize(path.posix.join(here, decodeURIComponent(file)));
  let onSite: string;
  if (resolved.startsWith('../')) {
    const inRepo = resolved.slice('../'.length);
    repoFiles.add(inRepo);
    onSite = `_repo/${inRepo}`;
  } else {
    onSite = resolved.endsWith('.md') ? sitePath(resolved) : resolved;
  }
  const from = path.posix.dirname(sitePath(docsPath));
  return `${path.posix.relative(from, onSite)}${anchor === undefined ? '' : `#${anchor}`}`;
}

/** The words of a heading's inline tokens, as GitHub reads them for its anchor. */
function inlineText(inline: MarkdownToken | undefined): string {
  return headingText((inline?.children ?? []).filter((t) => t.type === 'text' || t.type === 'code_inline').map((t) => t.content).join(''));
}

/** The markdown rule: GitHub's anchor on every heading, and every link and image made a link of the site. */
function anchorsAndLinks(gathered: Gathered): (state: MarkdownState) => void {
  return (state) => {
    const inputPath = state.env.page?.inputPath;
    if (inputPath === undefined) return;
    const docsPath = path.relative(DOCS, path.resolve(REPO, inputPath)).split(path.sep).join('/');
    const slug = slugger();
    state.tokens.forEach((token, i) => {
      if (token.type === 'heading_open') token.attrSet('id', slug(inlineText(state.tokens[i + 1])));
      for (const child of token.children ?? []) {
        const attr = child.type === 'link_open' ? 'href' : child.type === 'image' ? 'src' : undefined;
        const value = attr === undefined ? null : child.attrGet(attr);
        if (attr !== undefined && value !== null) child.attrSet(attr, siteLink(value, docsPath, gathered.repoFiles));
      }
    });
  };
}

/** HTML as the words a reader sees: tags dropped, entities read, spaces folded. */
function plainText(html: string): string {
  return html.replace(/<\/?(?:a|code|em|strong)\b[^>]*>/g, '').replace(/<[^>]*>/g, ' ').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&').replace(/\s+/g, ' ').trim();
}

/**
 * A rendered page's sections for the search, split at each heading with an id; each row of a
 * section's tables (a config field, a failure mode, a metric) is an entry of its own, named by
 * its first cell.
 */
function searchEntries(page: PageFacts, title: string, html: string): SearchEntry[] {
  const entries: SearchEntry[] = [];
  for (const part of html.split(/(?=<h[1-6] id=")/)) {
    const m = /^<h[1-6] id="([^"]*)">([\s\S]*?)<\/h[1-6]>/.exec(part);
    if (m?.[1] === undefined || m[2] === undefined) continue;
    const heading = plainText(m[2]);
    const url = `${sitePath(page.docsPath)}#${m[1]}`;
    const body = part.slice(m[0].length);
    entries.push({ page: title, heading, url, text: plainText(body.replace(/<table>[\s\S]*?<\/table>/g, ' ')) });
    for (const row of body.matchAll(/<tr>([\s\S]*?)<\/tr>/g)) {
      const cells = [...(row[1] ?? '').matchAll(/<td[^>]*>([\s\S]*?)<\/td>/g)].map((c) => plainText(c[1] ?? ''));
      if (cells.length > 0) entries.push({ page: title, heading: `${heading}: ${(cells[0] ?? '').slice(0, 80)}`, url, text: cells.slice(1).filter((c) => c !== '').join(' · ') });
    }
  }
  return entries;
}

/** Every page of docs/ with its headings, by its path there; each must be in the navigation. */
function readPages(): Map<string, PageFacts> {
  const pages = new Map<string, PageFacts>();
  for (const docsPath of docsPages(DOCS)) pages.set(docsPath, { docsPath, headings: headings(fs.readFileSync(path.join(DOCS, docsPath), 'utf8')) });
  const inNav = new Set(NAV.flatMap((part) => part.pages));
  const missing = [...pages.keys()].filter((p) => !inNav.has(p));
  if (missing.length > 0) throw new Error(`docs/${missing.join(', docs/')}: not in the site's navigation (scripts/docs/layout.ts, NAV)`);
  return pages;
}

function configure(config: UserConfig, pages: ReadonlyMap<string, PageFacts>, gathered: Gathered): void {
  config.setTemplateFormats(['md']);
  config.setUseGitIgnore(false);
  // the pages are markdown only: `{{` in a config example is text, not a template
  config.addGlobalData('templateEngineOverride', 'md');
  config.addGlobalData('permalink', () => (data: { page: { inputPath: string } }) => sitePath(path.relative(DOCS, path.resolve(REPO, data.page.inputPath)).split(path.sep).join('/')));
  config.addPassthroughCopy('docs/**/*.{png,svg,jpg}');
  config.amendLibrary('md', (md) => {
    md.core.ruler.push('fanout_anchors_and_links', anchorsAndLinks(gathered));
  });
  config.addTransform('fanout_layout', function (content) {
    const docsPath = path.relative(DOCS, path.resolve(REPO, this.page.inputPath)).split(path.sep).join('/');
    const page = pages.get(docsPath);
    if (page === undefined) return content;
    gathered.search.push(...searchEntries(page, page.headings[0]?.text ?? docsPath, content));
    return pageHtml(page, pages, content);
  });
}

/** Build the site into `out` (emptied first). Eleventy reads paths from the working directory: run from the repository's top. */
export async function buildSite(out: string): Promise<{ pages: number; sections: number }> {
  const pages = readPages();
  const gathered: Gathered = { search: [], repoFiles: new Set() };
  fs.rmSync(out, { recursive: true, force: true });
  const configured = (config: UserConfig): void => {
    configure(config, pages, gathered);
  };
  const eleventy = new Eleventy(path.relative(process.cwd(), DOCS) || '.', out, { quietMode: true, config: configured });
  await eleventy.write();
  for (const file of gathered.repoFiles) {
    fs.mkdirSync(path.dirname(path.join(out, '_repo', file)), { recursive: true });
    fs.copyFileSync(path.join(REPO, file), path.join(out, '_repo', file));
  }
  fs.mkdirSync(path.join(out, 'assets'), { recursive: true });
  for (const asset of fs.readdirSync(ASSETS)) fs.copyFileSync(path.join(ASSETS, asset), path.join(out, 'assets', asset));
  const index = gathered.search.sort((a, b) => a.url.localeCompare(b.url));
  fs.writeFileSync(path.join(out, 'assets', 'search-index.js'), `window.FANOUT_SEARCH = ${JSON.stringify(index)};\n`);
  return { pages: pages.size, sections: index.length };
}

/** `npm run docs [-- --out DIR]`: build the site (default site/), then check every link of the markdown and of the site. */
async function main(argv: string[]): Promise<number> {
  const at = argv.indexOf('--out');
  const out = path.resolve(at === -1 ? path.join(REPO, 'site') : (argv[at + 1] ?? 'site'));
  process.chdir(REPO);
  const built = await buildSite(out);
  const problems = [...['README.md', ...docsPages(DOCS).map((p) => `docs/${p}`)].flatMap((file) => brokenLinks(file)), ...brokenSiteLinks(out)];
  for (const problem of problems) process.stderr.write(`docs: ${problem}\n`);
  if (problems.length > 0) return 1;
  process.stdout.write(`docs: ${built.pages} pages, ${built.sections} sections to search, built into ${out}; every link and anchor resolves\n`);
  return 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) process.exitCode = await main(process.argv.slice(2));
