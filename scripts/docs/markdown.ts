import fs from 'node:fs';
import path from 'node:path';

// The documentation's markdown as data: its headings and their anchors (as GitHub makes them, so a
// link works on GitHub and on the site alike), its links, and the quick start's marked blocks.
// Pure but for the file reads of `docsPages` and `brokenLinks`.

/** The repository's top, where README.md and docs/ are. */
export const REPO = path.resolve(import.meta.dirname, '..', '..');

/** GitHub's anchors (github-slugger): lower case, punctuation dropped, spaces to hyphens, a repeat numbered. */
export function slugger(): (text: string) => string {
  const seen = new Map<string, number>();
  return (text) => {
    const base = text.toLowerCase().replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '').replace(/ /g, '-');
    const count = seen.get(base);
    seen.set(base, (count ?? 0) + 1);
    return count === undefined ? base : `${base}-${count}`;
  };
}

/** The lines of a markdown text outside fenced code blocks, with their numbers (from 1). */
function proseLines(markdown: string): { line: string; number: number }[] {
  const out: { line: string; number: number }[] = [];
  let fence: string | undefined;
  markdown.split('\n').forEach((line, i) => {
    const mark = /^ {0,3}(`{3,}|~{3,})/.exec(line)?.[1];
    if (mark !== undefined && (fence === undefined || mark.startsWith(fence))) {
      fence = fence === undefined ? mark : undefined;
      return;
    }
    if (fence === undefined) out.push({ line, number: i + 1 });
  });
  return out;
}

export interface Heading {
  level: number;
  /** as a reader sees it: code marks, emphasis and link targets undone */
  text: string;
  anchor: string;
  /** its line, from 1 */
  line: number;
}

/** A heading's words as they render: `code` and **emphasis** marks and link targets gone. */
export function headingText(raw: string): string {
  return raw.replace(/\[([^\]]*)\]\([^)]*\)/g, '$1').replace(/`([^`]*)`/g, '$1').replace(/\*\*([^*]+)\*\*/g, '$1').trim();
}

/** The ATX headings of a markdown text (outside code blocks), each with its anchor. */
export function headings(markdown: string): Heading[] {
  const slug = slugger();
  const out: Heading[] = [];
  for (const { line, number } of proseLines(markdown)) {
    const m = /^(#{1,6}) +(.*?)\s*#*\s*$/.exec(line);
    if (m?.[1] === undefined || m[2] === undefined) continue;
    const text = headingText(m[2]);
    out.push({ level: m[1].length, text, anchor: slug(text), line: number });
  }
  return out;
}

export interface Link {
  target: string;
  line: number;
}

/** The links and images of a markdown text, outside code blocks and code spans. */
export function links(markdown: string): Link[] {
  const out: Link[] = [];
  for (const { line, number } of proseLines(markdown)) {
    const prose = line.replace(/`[^`]*`/g, '');
    for (const m of prose.matchAll(/!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) if (m[1] !== undefined) out.push({ target: m[1], line: number });
  }
  return out;
}

/** The names of the blocks marked `<!-- quickstart:NAME -->`, each of which must be followed at once by a fenced code block. */
export function quickstartBlocks(markdown: string): { name: string; followedByCode: boolean }[] {
  const lines = markdown.split('\n');
  const out: { name: string; followedByCode: boolean }[] = [];
  lines.forEach((line, i) => {
    const name = /^<!-- quickstart:([\w.-]+) -->$/.exec(line)?.[1];
    if (name !== undefined) out.push({ name, followedByCode: /^```\w*$/.test(lines[i + 1] ?? '') });
  });
  return out;
}

/** Every markdown page of docs/, relative to it, in a stable order. */
export function docsPages(docs = path.join(REPO, 'docs')): string[] {
  return fs
    .readdirSync(docs, { recursive: true, encoding: 'utf8' })
    .filter((rel) => rel.endsWith('.md'))
    .map((rel) => rel.split(path.sep).join('/'))
    .sort();
}

/** Whether a link leaves the repository: a URL with a scheme (https:, mailto:). */
export function isExternal(target: string): boolean {
  return /^[a-z][a-z0-9+.-]*:/i.test(target);
}

/**
 * The links of `file` (relative to `root`) that lead nowhere: a file that does not exist, or an
 * anchor no heading of the page it names makes. Each as `file:line: target (why)`.
 */
export function brokenLinks(file: string, root = REPO): string[] {
  const text = fs.readFileSync(path.join(root, file), 'utf8');
  const problems: string[] = [];
  for (const { target, line } of links(text)) {
    if (isExternal(target)) continue;
    const [pathPart = '', anchor] = target.split('#', 2);
    const resolved = pathPart === '' ? file : path.posix.normalize(path.posix.join(path.posix.dirname(file), decodeURIComponent(pathPart)));
    const where = `${file}:${line}: ${target}`;
    if (resolved.startsWith('../') || !fs.existsSync(path.join(root, resolved))) {
      problems.push(`${where} (no such file: ${resolved})`);
      continue;
    }
    if (anchor === undefined || anchor === '') continue;
    if (!resolved.endsWith('.md')) problems.push(`${where} (an anchor into a file that is not markdown)`);
    else if (!headings(fs.readFileSync(path.join(root, resolved), 'utf8')).some((h) => h.anchor === anchor)) problems.push(`${where} (no heading of ${resolved} makes #${anchor})`);
  }
  return problems;
}
