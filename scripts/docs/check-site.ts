import fs from 'node:fs';
import path from 'node:path';

// The built site checked as a browser would follow it: every link and image of every page leads to
// a file of the site, every anchor to an id on its page, and nothing is loaded from the network.

function attributeValue(raw: string): string {
  return raw.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

/** The ids of an HTML page, and each URL its links, images, scripts and style sheets name (with the tag). */
export function pageRefs(html: string): { ids: Set<string>; refs: { tag: string; url: string }[] } {
  const ids = new Set([...html.matchAll(/\sid="([^"]*)"/g)].map((m) => attributeValue(m[1] ?? '')));
  const refs = [...html.matchAll(/<(a|img|script|link)\b[^>]*?\s(?:href|src)="([^"]*)"/g)].map((m) => ({ tag: m[1] ?? '', url: attributeValue(m[2] ?? '') }));
  return { ids, refs };
}

/** Every HTML file below `dir`, relative to it. */
function htmlFiles(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((rel) => rel.endsWith('.html'))
    .map((rel) => rel.split(path.sep).join('/'));
}

/** Each link of the site at `dir` that leads nowhere, or that loads something from the network, as `page: url (why)`. */
export function brokenSiteLinks(dir: string): string[] {
  const pages = new Map(htmlFiles(dir).map((file) => [file, pageRefs(fs.readFileSync(path.join(dir, file), 'utf8'))]));
  const problems: string[] = [];
  for (const [file, { refs }] of pages) {
    for (const { tag, url } of refs) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(url) || url.startsWith('//')) {
        // a link out is the reader's choice; anything the page itself loads must be the site's own
        if (tag !== 'a') problems.push(`${file}: ${url} (loaded from outside the site: it must build and read offline)`);
        continue;
      }
      const [target = '', anchor] = url.split('#', 2);
      const resolved = target === '' ? file : path.posix.normalize(path.posix.join(path.posix.dirname(file), decodeURIComponent(target)));
      if (resolved.startsWith('../') || !fs.existsSync(path.join(dir, resolved)) || fs.statSync(path.join(dir, resolved)).isDirectory()) {
        problems.push(`${file}: ${url} (no such file in the site: ${resolved})`);
        continue;
      }
      if (anchor === undefined || anchor === '') continue;
      const ids = pages.get(resolved)?.ids;
      if (ids === undefined || !ids.has(decodeURIComponent(anchor))) problems.push(`${file}: ${url} (no id "${anchor}" in ${resolved})`);
    }
  }
  return problems;
}
