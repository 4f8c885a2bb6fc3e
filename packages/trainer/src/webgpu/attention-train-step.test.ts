/**
 * Training steps of the transformer on webgpu, where its attention runs the WGSL kernels, equal the same
 * steps on the cpu backend (losses within 1e-4 relative), and the dispatch counters prove that the kernels
 * ran on webgpu — not a silent fallback to the tfjs-op path — and not on cpu.
 */

import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { startBackend } from '../backend.ts';
import { stepsOnCpuAndWebgpu } from './train-step-check.ts';

beforeAll(async () => {
  await startBackend('webgpu');
});

describe('transformer training steps with the WGSL attention', () => {
  it('equal the cpu backend, and the kernels ran on webgpu only', async () => {
    const steps = 1;
    const r = await stepsOnCpuAndWebgpu('transformer', 'ecgAttention', steps);
    expect(r.backendDuringWebgpu).toBe('webgpu');
    expect(tf.getBackend()).toBe('webgpu');
    expect(r.runs.cpu).toBe(0);
    expect(r.runs.webgpu).toBeGreaterThanOrEqual(2 * steps);
    expect(r.webgpu).toHaveLength(steps);
    for (let s = 0; s < steps; s++) {
      expect(Number.isFinite(r.webgpu[s]!)).toBe(true);
      expect(Math.abs(r.webgpu[s]! - r.cpu[s]!) / Math.abs(r.cpu[s]!), `step ${s}`).toBeLessThan(1e-4);
    }
    if (steps > 1) expect(r.webgpu[1]!).toBeLessThan(r.webgpu[0]!);
  }, 120_000);
});
