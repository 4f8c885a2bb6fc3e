/**
 * Training curves of runs, from their log.jsonl: training and validation loss against the step, and the
 * Transformer's free-running validation R² where it was measured. One SVG per call.
 *
 *   npm run curves -- --out docs/curves.svg models/trained/cnn-lstm models/trained/transformer runs/probe-fit
 *   npm run curves -- --out F.svg models/trained/transformer-fixed-ap/paper-head.log.jsonl   (a kept log)
 */

import { readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { figureSvg, type Panel } from '../packages/trainer/src/plots.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { out: { type: 'string' }, title: { type: 'string', default: 'Training curves' } },
});
if (values.out === undefined || positionals.length === 0) {
  console.error('usage: npm run curves -- --out FILE.svg RUN_DIR...');
  process.exit(2);
}

interface LogLine {
  readonly step: number;
  readonly trainLoss: number;
  readonly valLoss: number;
  readonly freeRunR2?: number;
}

const panels: Panel[] = [];
for (const dir of positionals) {
  // A run folder (its log.jsonl) or a log file kept beside another run (e.g. paper-head.log.jsonl).
  const file = dir.endsWith('.jsonl') ? resolve(dir) : resolve(dir, 'log.jsonl');
  const lines: LogLine[] = (await readFile(file, 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
    // A resume that changed settings leaves a line of its own ({ resumedAt, changed }); curves are validations.
    .filter((l) => typeof l.valLoss === 'number');
  const steps = lines.map((l) => l.step);
  const name = dir.endsWith('.jsonl')
    ? `${basename(dirname(file))} (${basename(file, '.log.jsonl').replace(/\.jsonl$/, '')})`
    : basename(resolve(dir));
  panels.push({
    title: `${name}: loss (normalised scale)`,
    xLabel: 'step',
    series: [
      {
        label: 'train (mean since the epoch began)',
        x: steps,
        y: lines.map((l) => l.trainLoss),
        style: 'dashed',
      },
      { label: 'validation', x: steps, y: lines.map((l) => l.valLoss), style: 'line' },
    ],
  });
  const r2 = lines.filter((l) => l.freeRunR2 !== undefined);
  if (r2.length > 0) {
    panels.push({
      title: `${name}: free-running validation R²`,
      xLabel: 'step',
      series: [
        { label: 'free-running R²', x: r2.map((l) => l.step), y: r2.map((l) => l.freeRunR2!), style: 'line' },
      ],
    });
  }
}
await writeFile(resolve(values.out), figureSvg({ title: values.title, panels, columns: 2 }));
console.log(`wrote ${values.out} (${panels.length} panels)`);
