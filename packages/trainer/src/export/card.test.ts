import { describe, expect, it } from 'vitest';
import { deviations, fp16Limitation, modelCard, spreadLimitation } from './card.ts';

const TRAINING = { dataset: 'data/x', seed: 1, epochs: 1, backend: 'wasm' as const, commit: 'unknown' };

const metrics = (spread: number | undefined) => {
  const set = { mae: 0.1, mse: 0.02, r2: 0.6, pearson: 0.8, spearman: 0.7, samples: 400 };
  return { full: { ...set, spread: 1 }, limited: { ...set, ...(spread === undefined ? {} : { spread }) } };
};

describe('the model card on how much a model reads its ECG', () => {
  it('says plainly when the output is the same whatever the ECG', () => {
    const text = spreadLimitation({ architecture: 'transformer', metrics: metrics(0.0004) });
    expect(text).toContain('0.00040 times as much as the true voltages');
    expect(text).toContain('essentially the same beat whatever the ECG');
  });

  it('says an output that varies too little is mostly the average heart, and only the figure above that', () => {
    expect(spreadLimitation({ architecture: 'transformer', metrics: metrics(0.2) })).toContain(
      'Much of each reconstruction is the average heart',
    );
    const fine = spreadLimitation({ architecture: 'transformer', metrics: metrics(0.8) });
    expect(fine).toContain('0.800 times as much');
    expect(fine).not.toContain('average heart');
  });

  it('reads the Transformer in Exp II and the CNNs in Exp I, and says nothing where it was not measured', () => {
    expect(spreadLimitation({ architecture: 'cnn-lstm', metrics: metrics(0.0004) })).toContain('1.000 times');
    expect(spreadLimitation({ architecture: 'transformer', metrics: metrics(undefined) })).toBeUndefined();
  });
});

describe('the model card on deviations from the paper', () => {
  it('names each deviation of the run, and none for the paper’s models', () => {
    expect(deviations('transformer', { encoderInput: 'prediction', outputHead: 'norm' })).toEqual([]);
    expect(
      deviations('cnn-lstm', { lookahead: 0, bidirectional: false, convChannels: [64, 128, 256] }),
    ).toEqual([]);
    expect(deviations('transformer', { encoderInput: 'embedding' })[0]).toContain('free embedding');
    expect(deviations('cnn-lstm', { convChannels: [64, 128, 128] })).toEqual([
      'its convolutions have 64, 128, 128 channels (the paper’s: 64, 128, 256)',
    ]);
    expect(deviations('cnn-lstm', { crossingWeight: 0, lstmHidden: 64 })).toEqual([]);
    expect(deviations('cnn-lstm', { lstmHidden: 128 })).toEqual([
      'its LSTM has 128 hidden units (the paper’s: 64)',
    ]);
    expect(deviations('cnn-lstm', { crossingWeight: 1 })[0]).toMatch(/crossing term in its loss \(weight 1/);
    const card = modelCard(
      { architecture: 'transformer', metrics: metrics(0.2), training: TRAINING, sites: 75 },
      deviations('transformer', { encoderInput: 'embedding' }),
    );
    expect(
      card.limitations.some((l) => l.startsWith('Deviates from the paper’s model: the input layer')),
    ).toBe(true);
    expect(
      modelCard({
        architecture: 'squeezenet1d',
        metrics: metrics(0.2),
        training: TRAINING,
        sites: 75,
      }).limitations.join(' '),
    ).not.toContain('Deviates');
  });
});

describe('the model card on the fp16 file', () => {
  it('gives the largest pooled R² change over both experiments, and nothing where it was not measured', () => {
    const fp16Delta = { 'full.r2': -2.8e-7, 'limited.r2': 0.00034, 'limited.mae': -0.5 };
    const text = fp16Limitation({ metrics: { ...metrics(1), fp16Delta } });
    expect(text).toContain('within 0.00034 in pooled R²');
    expect(fp16Limitation({ metrics: metrics(1) })).toBeUndefined();
    const card = modelCard({
      architecture: 'cnn-lstm',
      metrics: { ...metrics(1), fp16Delta },
      training: TRAINING,
      sites: 75,
    });
    expect(card.limitations.at(-1)).toBe(text);
  });
});
