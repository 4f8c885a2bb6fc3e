import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputError } from '@ecg-tmp/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeCheckpoint } from './checkpoint.ts';
import { parseTrainArgs } from './cli.ts';

let runs: string;
beforeAll(async () => {
  runs = await mkdtemp(join(tmpdir(), 'ecg-tmp-cli-'));
  // Two run folders whose checkpoints hold only what the flags are checked against: the model.
  await mkdir(join(runs, 'lstm'));
  await mkdir(join(runs, 'tf'));
  const empty = new Map<string, Float32Array>([['w', new Float32Array(2)]]);
  await writeCheckpoint(join(runs, 'lstm', 'checkpoint.bin'), { config: { model: 'cnn-lstm' } }, empty);
  await writeCheckpoint(join(runs, 'tf', 'checkpoint.bin'), { config: { model: 'transformer' } }, empty);
});
afterAll(() => rm(runs, { recursive: true, force: true }));

describe('npm run train flags', () => {
  it('takes the fixed-AP variant of the synthetic data', () => {
    const { config } = parseTrainArgs([
      '--model',
      'transformer',
      '--out',
      'runs/x',
      '--synthetic-ap',
      'fixed',
    ]);
    expect(config.syntheticAp).toBe('fixed');
    expect(config.data).toBe('synthetic');
    expect(parseTrainArgs(['--model', 'cnn-lstm', '--out', 'runs/x']).config.syntheticAp).toBe('drawn');
  });

  it('names a bad --synthetic-ap and one given with a data folder', () => {
    expect(() => parseTrainArgs(['--model', 'cnn-lstm', '--out', 'r', '--synthetic-ap', 'frozen'])).toThrow(
      /unknown --synthetic-ap 'frozen'. Expected one of: drawn, fixed/,
    );
    expect(() =>
      parseTrainArgs(['--model', 'cnn-lstm', '--out', 'r', '--synthetic-ap', 'fixed', '--data', 'data/llnl']),
    ).toThrow(InputError);
  });

  it('takes a narrower CNN-LSTM (--conv-channels) and refuses a bad or misplaced one', () => {
    const { config } = parseTrainArgs(['--model', 'cnn-lstm', '--out', 'r', '--conv-channels', '64,128,128']);
    expect(config.convChannels).toEqual([64, 128, 128]);
    expect(parseTrainArgs(['--model', 'cnn-lstm', '--out', 'r']).config.convChannels).toEqual([64, 128, 256]);
    expect(() => parseTrainArgs(['--model', 'cnn-lstm', '--out', 'r', '--conv-channels', '64,128'])).toThrow(
      /--conv-channels must be three integers/,
    );
    expect(() =>
      parseTrainArgs(['--model', 'cnn-lstm', '--out', 'r', '--conv-channels', '64,x,128']),
    ).toThrow(/--conv-channels must be a number/);
    expect(() =>
      parseTrainArgs(['--model', 'transformer', '--out', 'r', '--conv-channels', '64,128,128']),
    ).toThrow(/--conv-channels applies to the cnn-lstm only/);
  });

  it('takes --memory-variance for the Transformer only, and not below 0', () => {
    expect(
      parseTrainArgs(['--model', 'transformer', '--out', 'r', '--memory-variance', '0.02']).config
        .memoryVariance,
    ).toBe(0.02);
    expect(() => parseTrainArgs(['--model', 'cnn-lstm', '--out', 'r', '--memory-variance', '0.02'])).toThrow(
      /--memory-variance applies to the transformer only/,
    );
    expect(() => parseTrainArgs(['--model', 'transformer', '--out', 'r', '--memory-variance=-1'])).toThrow(
      /--memory-variance must be ≥ 0/,
    );
  });

  it('hands a resume exactly the flags given, as changes', () => {
    const { resume, overrides } = parseTrainArgs([
      '--out',
      join(runs, 'lstm'),
      '--resume',
      '--lr',
      '3e-4',
      '--lr-milestones',
      '3,5',
    ]);
    expect(resume).toBe(true);
    expect(overrides).toEqual({ lr: 3e-4, lrMilestones: [3, 5] });
  });

  it("checks a resume's flags against the model its checkpoint holds", () => {
    // A Transformer-only flag resumes a Transformer run without --model (it was refused as if the run
    // were a CNN-LSTM), and is still refused for a CNN-LSTM run.
    const { config, overrides } = parseTrainArgs([
      '--out',
      join(runs, 'tf'),
      '--resume',
      '--sampling',
      'unrolled',
    ]);
    expect(config.model).toBe('transformer');
    expect(overrides).toEqual({ sampling: 'unrolled' });
    expect(() => parseTrainArgs(['--out', join(runs, 'lstm'), '--resume', '--sampling', 'unrolled'])).toThrow(
      /--sampling applies to the transformer only/,
    );
    expect(() => parseTrainArgs(['--out', join(runs, 'tf'), '--resume', '--model', 'cnn-lstm'])).toThrow(
      /is a transformer run; --model cnn-lstm cannot change that/,
    );
    expect(() => parseTrainArgs(['--out', join(runs, 'none'), '--resume'])).toThrow(/has no checkpoint.bin/);
  });
});
