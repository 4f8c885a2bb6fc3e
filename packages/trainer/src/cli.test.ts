import { InputError } from '@ecg-tmp/core';
import { describe, expect, it } from 'vitest';
import { parseTrainArgs } from './cli.ts';

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

  it('hands a resume exactly the flags given, as changes', () => {
    const { resume, overrides } = parseTrainArgs([
      '--out',
      'runs/x',
      '--resume',
      '--lr',
      '3e-4',
      '--lr-milestones',
      '3,5',
    ]);
    expect(resume).toBe(true);
    expect(overrides).toEqual({ lr: 3e-4, lrMilestones: [3, 5] });
  });
});
