// The README and docs/ link to each other and into the tree: every relative link must name a
// file or folder of the clone, and every #anchor a heading of its page (GitHub's slugs).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { test } from 'node:test';
import { projectRoot } from '../../src/setup/source-schemas.js';

/** GitHub's heading anchor: lower case, markup and punctuation dropped, spaces to hyphens. */
export function headingSlug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[`*_]/g, '')
    .replace(/[^\p{Letter}\p{Number} -]/gu, '')
    .replace(/ /g, '-');
}

function withoutCodeBlocks(markdown: string): string {
  return markdown.replace(/^```[\s\S]*?^```/gm, '');
}

function anchorsOf(markdown: string): Set<string> {
  const headings = withoutCodeBlocks(markdown)
    .split('\n')
    .filter((line) => /^#{1,6} /.test(line))
    .map((line) => headingSlug(line.replace(/^#+ /, '')));
  return new Set(headings);
}

function linksOf(markdown: string): string[] {
  const text = withoutCodeBlocks(markdown).replace(/`[^`\n]*`(?!\])/g, '');
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((match) => match[1] ?? '');
}

test('heading slugs follow GitHub', () => {
  assert.equal(headingSlug('Replay: debugging a conflict, changing workflow code safely'), 'replay-debugging-a-conflict-changing-workflow-code-safely');
  assert.equal(headingSlug('`audit explain` and `audit check`'), 'audit-explain-and-audit-check');
  assert.equal(headingSlug('Routing: one workflow per room'), 'routing-one-workflow-per-room');
});

test('every relative link of README.md and docs/*.md resolves, anchors included', async () => {
  const pages = ['README.md', ...(await readdir(join(projectRoot, 'docs'))).filter((name) => name.endsWith('.md')).map((name) => `docs/${name}`)];
  const broken: string[] = [];
  let checked = 0;
  for (const page of pages) {
    const markdown = await readFile(join(projectRoot, page), 'utf8');
    for (const link of linksOf(markdown)) {
      if (/^[a-z]+:/i.test(link)) continue;
      checked += 1;
      const [path = '', anchor] = link.split('#');
      const target = path === '' ? join(projectRoot, page) : join(projectRoot, dirname(page), path);
      if (!existsSync(target)) {
        broken.push(`${page}: ${link} (no ${relative(projectRoot, target)})`);
        continue;
      }
      if (anchor !== undefined && target.endsWith('.md') && !anchorsOf(await readFile(target, 'utf8')).has(anchor)) {
        broken.push(`${page}: ${link} (no heading #${anchor})`);
      }
    }
  }
  assert.ok(checked > 20, `found only ${checked} relative links: the link pattern no longer matches`);
  assert.deepEqual(broken, []);
});
