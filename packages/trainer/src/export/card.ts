/**
 * @module
 * What a shipped model says about itself beyond its numbers: the output's 75 rows (the recording sites'
 * names and positions, from the heart's points file) and a model card (intended use, what it is not
 * for, its data, its evaluation, its limitations), both in the manifest, and the version folder's
 * README.md written from them. The exporter and the patch re-export both call these.
 */

import { type Architecture, type Manifest, N_SITES } from '@ecg-tmp/core';
import { loadHeartMesh } from '@ecg-tmp/simulator';
import { PARAMETER_COUNTS } from '../models/index.ts';

export type SiteList = NonNullable<Manifest['siteList']>;
export type ModelCard = NonNullable<Manifest['card']>;

/** The 75 recording sites in output order (points.csv), positions in mm in the mesh's frame. */
export function shippedSites(): SiteList {
  const { sites } = loadHeartMesh();
  if (sites.length !== N_SITES)
    throw new Error(`the heart mesh has ${sites.length} sites, expected ${N_SITES}`);
  return sites.map((s) => ({ name: s.name, positionMm: [s.position[0], s.position[1], s.position[2]] }));
}

const READS: Readonly<Record<Architecture, string>> = {
  squeezenet1d: 'the whole 500 ms ECG window (a 1D SqueezeNet)',
  'cnn-lstm': 'the whole 500 ms ECG window (convolutions and a forward-running LSTM)',
  transformer: 'only the first 10 ms of the ECG window, and decodes all 500 ms from them (a Transformer)',
};

const OWN_LIMITS: Readonly<Record<Architecture, string>> = {
  squeezenet1d:
    'Given only the first 10 ms of ECG (Exp II) it does not reconstruct: it needs the whole window.',
  'cnn-lstm':
    'Its LSTM runs forward in time, so each instant is reconstructed from the ECG up to a few ms later: upstrokes are drawn as ramps and activation times come late on average. Given only the first 10 ms of ECG (Exp II) it does not reconstruct.',
  transformer:
    'Ten milliseconds of ECG tell neither a heart’s action-potential shape nor all of its activation: on the default data the best any model can do from them is R² ≈ 0.78 (measured by a near-neighbour noise estimate, docs/results.md §8h), and this model is below that. Timing errors of tens of ms are common.',
};

/** A spread as a person reads it: three decimals, or two significant digits below 0.01 (never "0.000"). */
export function spreadText(ratio: number): string {
  return ratio >= 0.01 || ratio === 0 ? ratio.toFixed(3) : ratio.toPrecision(2);
}

/**
 * What the measured spread (manifest metrics, Spread.ratio: how much the reconstructions vary from ECG
 * to ECG against the truth) says to a person reading one reconstruction; undefined when not measured.
 * The Transformer is read in Exp II (its only input), the CNNs in Exp I.
 */
export function spreadLimitation(m: Pick<Manifest, 'architecture' | 'metrics'>): string | undefined {
  const set = m.architecture === 'transformer' ? m.metrics.limited : m.metrics.full;
  const ratio = set?.spread;
  if (ratio === undefined) return undefined;
  const measured = `On the test split its reconstructions vary from ECG to ECG ${spreadText(ratio)} times as much as the true voltages do (spread; 0 would be one output for every ECG).`;
  if (ratio < 0.01)
    return `${measured} It draws essentially the same beat whatever the ECG: a reconstruction shows the average heart it learned, not this heart.`;
  if (ratio < 0.5)
    return `${measured} Much of each reconstruction is the average heart it learned: differences between hearts come out smaller than they are.`;
  return measured;
}

/**
 * What the fp16 file costs in accuracy: the largest change in pooled R² from the fp32 file on the test
 * split over both experiments (manifest metrics.fp16Delta); undefined when not measured.
 */
export function fp16Limitation(m: Pick<Manifest, 'metrics'>): string | undefined {
  const deltas = Object.entries(m.metrics.fp16Delta ?? {})
    .filter(([key]) => key.endsWith('.r2'))
    .map(([, d]) => Math.abs(d));
  if (deltas.length === 0) return undefined;
  const worst = Math.max(...deltas);
  return `Its fp16 file (half the download) scores within ${worst === 0 ? '0' : worst.toPrecision(2)} in pooled R² of the fp32 file on the test split; single values can differ by more, so use the fp32 file where exact values matter.`;
}

/** The parts of a training run's config that make a shipped model differ from the paper's. */
export interface DeviationConfig {
  readonly encoderInput?: string;
  readonly outputHead?: string;
  readonly lookahead?: number;
  readonly bidirectional?: boolean;
  readonly convChannels?: readonly number[];
  readonly crossingWeight?: number;
  readonly lstmHidden?: number;
}

/** Each way the run's model deviates from the paper's, in words; none for the paper's model. */
export function deviations(architecture: Architecture, c: DeviationConfig): string[] {
  const out: string[] = [];
  if (architecture === 'transformer' && (c.encoderInput ?? 'prediction') === 'embedding')
    out.push(
      'the input layer’s output is a free embedding of the first 10 ms — the encoder’s input and the decoder’s 10 start tokens — rather than a prediction of TMP steps 0–9, and the decoder predicts all 500 steps (same parameters)',
    );
  if (architecture === 'transformer' && (c.outputHead ?? 'norm') !== 'norm')
    out.push(`the decoder ends in a ${c.outputHead} output head instead of the last LayerNorm`);
  if (architecture === 'cnn-lstm') {
    if ((c.lookahead ?? 0) > 0) out.push(`the LSTM reads the ECG ${c.lookahead} ms ahead`);
    if (c.bidirectional === true) out.push('the LSTM runs in both directions');
    const channels = c.convChannels ?? [64, 128, 256];
    if (channels.join(',') !== '64,128,256')
      out.push(`its convolutions have ${channels.join(', ')} channels (the paper’s: 64, 128, 256)`);
    if ((c.lstmHidden ?? 64) !== 64) out.push(`its LSTM has ${c.lstmHidden} hidden units (the paper’s: 64)`);
  }
  if ((c.crossingWeight ?? 0) > 0)
    out.push(
      `it was trained with a crossing term in its loss (weight ${c.crossingWeight}: a hinge at 0 and −60 mV, so the upstroke crosses 0 mV at its likeliest time; same parameters)`,
    );
  return out;
}

/**
 * The card for a manifest (its metrics and data set fill the evaluation and data lines), with the ways
 * the model deviates from the paper's (deviations()) among its limitations.
 */
export function modelCard(
  m: Pick<Manifest, 'architecture' | 'metrics' | 'training' | 'sites'>,
  deviated: readonly string[] = [],
): ModelCard {
  const r2 = (x: number | undefined) => (x === undefined ? 'not measured' : x.toFixed(3));
  const spread = spreadLimitation(m);
  const fp16 = fp16Limitation(m);
  const samples = m.metrics.full?.samples ?? m.metrics.limited?.samples;
  return {
    intendedUse: `Research and teaching: reconstructing the transmembrane voltage (mV, 500 ms at 1 kHz) at ${m.sites} fixed sites in the ventricles from one 12-lead ECG beat, as in "Signal reconstructions for ECG-transmembrane voltage potentials using transformers" (LLNL). The model reads ${READS[m.architecture]}.`,
    notFor:
      'Not a medical device. Not for diagnosis, treatment, triage or any decision about a person; not validated on patients.',
    trainingData: `Simulated ECG / transmembrane-voltage pairs only (${m.training.dataset}): one ventricular mesh with normal, LBBB, RBBB, ectopic and scar scenarios, no real patient data. Split 80/10/10 by a fixed rule; training read the training split only.`,
    evaluation: `On the held-out simulated test split${samples === undefined ? '' : ` (${samples} pairs)`}, normalised scale, pooled over every value: Exp I (whole window) R² ${r2(m.metrics.full?.r2)}, Exp II (first 10 ms) R² ${r2(m.metrics.limited?.r2)}. Figures on simulated data say nothing about accuracy on real ECGs.`,
    limitations: [
      'Trained on simulated hearts: a real ECG may lie outside what it learned. Every reconstruction reports how far its ECG is from the training ECGs (inDistribution); read "unusual" and "out of range" as warnings.',
      'One heart geometry: the sites are fixed positions on it (siteList), not on the patient’s heart.',
      'Input must be one beat window as the training data were cut: 12 leads, mV, 1 kHz, QRS onset about 3 ms into the window (core’s beat extraction does this for recordings).',
      OWN_LIMITS[m.architecture],
      ...(deviated.length === 0 ? [] : [`Deviates from the paper’s model: ${deviated.join('; ')}.`]),
      ...(spread === undefined ? [] : [spread]),
      ...(fp16 === undefined ? [] : [fp16]),
    ],
  };
}

/** The version folder's README.md, from its manifest. */
export function versionReadme(m: Manifest): string {
  const lines = [
    `# ${m.name} ${m.version}`,
    '',
    m.parameters === PARAMETER_COUNTS[m.architecture]
      ? `${m.architecture}, ${m.parameters.toLocaleString('en')} parameters (the paper's).`
      : `${m.architecture}, ${m.parameters.toLocaleString('en')} parameters: a deviation from the paper's ${PARAMETER_COUNTS[m.architecture].toLocaleString('en')} (its training run's config says which).`,
    '',
  ];
  if (m.card !== undefined) {
    lines.push(
      '## Model card',
      '',
      `- **Intended use**: ${m.card.intendedUse}`,
      `- **Not for**: ${m.card.notFor}`,
      `- **Training data**: ${m.card.trainingData}`,
      `- **Evaluation**: ${m.card.evaluation}`,
      '- **Limitations**:',
      ...m.card.limitations.map((l) => `  - ${l}`),
      '',
    );
  }
  lines.push('## Files', '', '| file | role | weights | bytes | sha256 |', '| --- | --- | --- | --- | --- |');
  for (const f of m.files)
    lines.push(`| ${f.path} | ${f.role} | ${f.dtype} | ${f.bytes} | \`${f.sha256}\` |`);
  lines.push('');
  if (m.siteList !== undefined) {
    lines.push(
      '## Output rows (sites)',
      '',
      'Row i of the output `tmp` [batch, 75, 500] is site i (positions in mm, the heart mesh’s frame):',
      '',
      '| row | site | x | y | z |',
      '| --- | --- | --- | --- | --- |',
      ...m.siteList.map(
        (s, i) => `| ${i} | ${s.name} | ${s.positionMm.map((v) => v.toFixed(2)).join(' | ')} |`,
      ),
      '',
    );
  }
  return lines.join('\n');
}
