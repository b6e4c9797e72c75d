import path from 'node:path';
import type { Heading } from './markdown.js';

// What every page of the site is wrapped in: the navigation (by what a reader came for), the
// search box, the page itself. Pure: pages in, HTML out.

/** The navigation: each part of the documentation and its pages (paths in docs/), in reading order. */
export const NAV: readonly { part: string; pages: readonly string[] }[] = [
  { part: 'Start', pages: ['README.md', 'getting-started.md'] },
  {
    part: 'Guides',
    pages: [
      'guides/atomic-releases.md',
      'guides/moving-to-slots.md',
      'guides/rollout.md',
      'guides/builds.md',
      'guides/watch.md',
      'guides/stages-and-locks.md',
      'guides/push-modes.md',
      'guides/identity.md',
      'guides/many-hosts.md',
      'guides/monitoring.md',
      'guides/farm-page.md',
    ],
  },
  { part: 'Reference', pages: ['reference/commands.md', 'reference/config.md', 'reference/metrics.md', 'reference/exit-codes.md'] },
  { part: 'Operations', pages: ['operations/security.md', 'operations/failure-modes.md'] },
  { part: 'Inside', pages: ['how-it-works.md', 'benchmark.md', 'development.md'] },
];

/** Where a page of docs/ lands in the site: its path with .html for .md, and README.md as the home page. */
export function sitePath(docsPath: string): string {
  if (docsPath === 'README.md') return 'index.html';
  return docsPath.replace(/(^|\/)README\.md$/, '$1index.html').replace(/\.md$/, '.html');
}

/** The way from a page of the site (`guides/watch.html`) back to the site's top: `../`, or `` at the top. */
export function toRoot(sitePage: string): string {
  return '../'.repeat(sitePage.split('/').length - 1);
}

/** A page of the site as the layout needs it. */
export interface PageFacts {
  /** in docs/: guides/watch.md */
  docsPath: string;
  headings: readonly Heading[];
}

export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** The page's title: its first heading. */
export function titleOf(page: PageFacts): string {
  return page.headings[0]?.text ?? path.posix.basename(page.docsPath, '.md');
}

/** The navigation for `current`: every page by its title, the current one marked and opened onto its sections. */
function navHtml(current: PageFacts, all: ReadonlyMap<string, PageFacts>): string {
  const here = sitePath(current.docsPath);
  const link = (docsPath: string): string => {
    const page = all.get(docsPath);
    if (page === undefined) throw new Error(`the navigation names docs/${docsPath}, which does not exist`);
    const href = path.posix.relative(path.posix.dirname(here), sitePath(docsPath));
    if (docsPath !== current.docsPath) return `<li><a href="${escapeHtml(href)}">${escapeHtml(titleOf(page))}</a></li>`;
    const sections = page.headings.filter((h) => h.level === 2).map((h) => `<li><a href="#${escapeHtml(h.anchor)}">${escapeHtml(h.text)}</a></li>`);
    return `<li><a aria-current="page" href="${escapeHtml(href)}">${escapeHtml(titleOf(page))}</a>${sections.length === 0 ? '' : `<ul>${sections.join('')}</ul>`}</li>`;
  };
  return NAV.map(({ part, pages }) => `<h2>${escapeHtml(part)}</h2><ul>${pages.map(link).join('')}</ul>`).join('\n');
}

/** A whole page of the site around the HTML the markdown rendered to. */
export function pageHtml(current: PageFacts, all: ReadonlyMap<string, PageFacts>, content: string): string {
  const root = toRoot(sitePath(current.docsPath));
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(titleOf(current))} · fanout</title>
<link rel="stylesheet" href="${root}assets/style.css">
</head>
<body data-root="${root}">
<header>
<a class="brand" href="${root}index.html">fanout</a>
<div class="search" role="search">
<input id="search" type="search" placeholder="Search the documentation" autocomplete="off" aria-label="Search the documentation" aria-controls="search-results">
<ol id="search-results" hidden></ol>
</div>
</header>
<div class="layout">
<nav aria-label="Documentation">
${navHtml(current, all)}
</nav>
<main>
${content}
</main>
</div>
<script src="${root}assets/search-index.js"></script>
<script src="${root}assets/search.js"></script>
</body>
</html>
`;
}
