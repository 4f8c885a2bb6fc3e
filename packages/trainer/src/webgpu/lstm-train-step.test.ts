/**
 * Training steps of the cnn-lstm on webgpu, where its LSTM recurrence runs the WGSL kernels, equal the same
 * steps on the cpu backend (losses within 1e-4 relative), and the dispatch counters prove that the kernels
 * ran on webgpu — not a silent fallback to the tfjs-op path — and not on cpu.
 */

import { beforeAll, describe, it } from 'vitest';
import { startBackend } from '../backend.ts';
import { expectWebgpuStepsMatchCpu } from './train-step-check.ts';

beforeAll(async () => {
  await startBackend('webgpu');
});

describe('cnn-lstm training steps with the WGSL LSTM recurrence', () => {
  it('equal the cpu backend, and the kernels ran on webgpu only', async () => {
    await expectWebgpuStepsMatchCpu('cnn-lstm', 'ecgLstm', 2);
  }, 120_000);
});
