import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { brokenLinks, docsPages, headings, links, quickstartBlocks, REPO, slugger } from '../../scripts/docs/markdown.js';

// The documentation as markdown, as GitHub shows it: every relative link and anchor of the README
// and docs/ resolves, and every block the quick start marks as a step is one its test runs.

const pages = ['README.md', ...docsPages().map((p) => `docs/${p}`)];
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'fanout-doc-links-'));
afterAll(() => {
  fs.rmSync(scratch, { recursive: true, force: true });
});

describe('the markdown of README.md and docs/', () => {
  it('makes anchors as GitHub does: punctuation dropped, spaces to hyphens, a repeat numbered', () => {
    const slug = slugger();
    expect(slug('`fanout lock -m "why"`'.replace(/`/g, ''))).toBe('fanout-lock--m-why');
    expect(slug('Stages: staging and production from one update server')).toBe('stages-staging-and-production-from-one-update-server');
    expect(slug('Who pushed, and why')).toBe('who-pushed-and-why');
    expect(slug('Who pushed, and why')).toBe('who-pushed-and-why-1');
    expect(headings('# A\n\n```sh\n# not a heading\n```\n\n## `fanout deploy [REV]`\n').map((h) => h.anchor)).toEqual(['a', 'fanout-deploy-rev']);
  });

  it('finds the links of prose, not of code', () => {
    expect(links('See [a](b.md#c) and ![d](e.png).\n\n`[x](not-a-link)`\n\n```\n[y](nor-this)\n```\n').map((l) => l.target)).toEqual(['b.md#c', 'e.png']);
  });

  it('names a link to a missing file, or to an anchor no heading makes', () => {
    fs.mkdirSync(path.join(scratch, 'docs'), { recursive: true });
    fs.writeFileSync(path.join(scratch, 'docs', 'a.md'), '# A\n\n## Here\n\n[ok](#here) [ok](b.md#there) [gone](c.md) [wrong](b.md#nowhere) [out](https://example.com/x#y)\n');
    fs.writeFileSync(path.join(scratch, 'docs', 'b.md'), '# B\n\n## There\n');
    expect(brokenLinks('docs/a.md', scratch)).toEqual(['docs/a.md:5: c.md (no such file: docs/c.md)', 'docs/a.md:5: b.md#nowhere (no heading of docs/b.md makes #nowhere)']);
  });

  it('has every relative link and anchor resolve', () => {
    expect(pages.length).toBeGreaterThan(15);
    expect(pages.flatMap((file) => brokenLinks(file))).toEqual([]);
  });

  it('keeps the README short: under 200 lines', () => {
    expect(fs.readFileSync(path.join(REPO, 'README.md'), 'utf8').split('\n').length).toBeLessThan(200);
  });
});

describe('the quick start (docs/getting-started.md)', () => {
  const marked = quickstartBlocks(fs.readFileSync(path.join(REPO, 'docs', 'getting-started.md'), 'utf8'));
  const test = fs.readFileSync(path.join(REPO, 'test', 'integration', 'cli', 'quickstart.test.ts'), 'utf8');
  const run = new Set([...test.matchAll(/\bblock\('([\w.-]+)'\)/g)].map((m) => m[1] ?? ''));

  it('marks each step on the line before its code block', () => {
    expect(marked.length).toBeGreaterThan(10);
    expect(marked.filter((b) => !b.followedByCode).map((b) => b.name)).toEqual([]);
  });

  it('marks only blocks its test runs, and its test runs only marked blocks', () => {
    expect([...new Set(marked.map((b) => b.name))].sort()).toEqual([...run].sort());
  });
});
