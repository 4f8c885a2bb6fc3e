/**
 * @module
 * The docs against the tree: every tracked Markdown file's mentions of repository paths and of model
 * versions must exist, and a sentence that calls a version the stable one must name the version
 * models/aliases.json says is stable. Docs drift quietly (a README naming a stable that moved, a path
 * renamed); this keeps them honest.
 *
 * What counts as a mention:
 * - a path (from the root, from the doc's folder, or as the end of a tracked path): a `code span` or a Markdown link target that starts with one of the repository's top-level
 *   folders (packages/, models/, docs/, benchmarks/, test/, scripts/, .ci/); placeholders (<id>, *, X.Y.Z,
 *   …) and folders that are made at run time (runs/, data/, dist/) are not paths to check;
 * - a version: "<model> X.Y.Z" for the shipped model names (cnn, cnn-lstm, transformer);
 * - a stable claim: "stable <model> X.Y.Z" or "<model> X.Y.Z (stable)" / "(latest, stable)".
 */

import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseAliases } from '@ecg-tmp/core';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');
const tracked = execFileSync('git', ['ls-files', '-z'], { cwd: ROOT, encoding: 'utf8' })
  .split('\0')
  .filter(Boolean);
const docs = tracked.filter((f) => f.endsWith('.md') && !f.includes('node_modules'));
const trackedSet = new Set(tracked);
const trackedDirs = new Set(
  tracked.flatMap((f) =>
    f
      .split('/')
      .slice(0, -1)
      .map((_, i, a) => a.slice(0, i + 1).join('/')),
  ),
);
const aliases = parseAliases(JSON.parse(readFileSync(join(ROOT, 'models/aliases.json'), 'utf8')));
const MODELS = '(cnn-lstm|cnn|transformer)';
const VERSION = '(\\d+\\.\\d+\\.\\d+)';

const TOP = /^(packages|models|docs|benchmarks|test|scripts|\.ci)\//;
const PLACEHOLDER = /[<>*{}…]|X\.Y\.Z|\bN\b|\/\.\.\.|\.\.\.$/;
const GENERATED = /(^|\/)(runs|data|dist|node_modules|\.gpu)(\/|$)/;

function mentionedPaths(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/`([^`\s]+)`|\]\(([^)\s#]+)(?:#[^)]*)?\)/g)) {
    const raw = (m[1] ?? m[2] ?? '').replace(/^\.\//, '').replace(/[:,.;]$/, '');
    if (!TOP.test(raw) || PLACEHOLDER.test(raw) || GENERATED.test(raw)) continue;
    out.push(raw.replace(/\/$/, ''));
  }
  return out;
}

function missingPaths(doc: string, text: string): string[] {
  const missing: string[] = [];
  for (const path of mentionedPaths(text)) {
    // From the root, from the doc's folder, or — for a doc naming a file inside a package the way that
    // package's own folders do (`models/attention.ts` in docs about the trainer) — as the end of a
    // tracked path.
    const local = join(dirname(doc), path);
    const ok =
      [path, local].some((p) => trackedSet.has(p) || trackedDirs.has(p) || existsSync(join(ROOT, p))) ||
      tracked.some((f) => f.endsWith(`/${path}`)) ||
      [...trackedDirs].some((d) => d.endsWith(`/${path}`));
    if (!ok) missing.push(`${doc}: ${path}`);
  }
  return missing;
}

function wrongVersions(doc: string, text: string): string[] {
  const wrong: string[] = [];
  for (const m of text.matchAll(new RegExp(`\\b${MODELS} ${VERSION}\\b`, 'g'))) {
    if (!existsSync(join(ROOT, 'models', m[1]!, m[2]!, 'manifest.json')))
      wrong.push(`${doc}: ${m[0]} was never shipped`);
  }
  const claims = [
    ...text.matchAll(new RegExp(`\\bstable ${MODELS} ${VERSION}\\b`, 'g')),
    ...text.matchAll(new RegExp(`\\b${MODELS} ${VERSION} \\((?:latest, )?stable\\)`, 'g')),
  ];
  for (const m of claims) {
    const stable = aliases[m[1]!]?.stable;
    if (stable !== m[2]) wrong.push(`${doc}: "${m[0]}" but the stable ${m[1]} is ${stable}`);
  }
  return wrong;
}

describe('the docs against the tree', () => {
  it('found the Markdown files to check, and the checks catch drift', () => {
    expect(docs).toContain('README.md');
    expect(docs.length).toBeGreaterThan(5);
    const stable = aliases.cnn!.stable!;
    const text = `See \`packages/core/src/nowhere.ts\`, [the layout](docs/gone.md), \`packages/core/src/layout.ts\`,
      \`runs/<id>/log.jsonl\`; cnn 9.9.9 is new, the stable cnn 0.1.0 is old, cnn ${stable} (stable) is right.`;
    expect(missingPaths('README.md', text)).toEqual([
      'README.md: packages/core/src/nowhere.ts',
      'README.md: docs/gone.md',
    ]);
    expect(wrongVersions('README.md', text)).toEqual(
      stable === '0.1.0'
        ? ['README.md: cnn 9.9.9 was never shipped']
        : [
            'README.md: cnn 9.9.9 was never shipped',
            `README.md: "stable cnn 0.1.0" but the stable cnn is ${stable}`,
          ],
    );
  });

  it('every repository path a doc mentions exists', () => {
    expect(docs.flatMap((doc) => missingPaths(doc, readFileSync(join(ROOT, doc), 'utf8')))).toEqual([]);
  });

  it('every model version a doc names was shipped, and every stable claim names the stable', () => {
    expect(docs.flatMap((doc) => wrongVersions(doc, readFileSync(join(ROOT, doc), 'utf8')))).toEqual([]);
  });
});
