/**
 * The same training code on every backend: each model trains a few steps from the same seed on cpu,
 * wasm and webgpu (Dawn on SwiftShader here, a real GPU on the GPU machine); the losses agree within
 * 1e-4 relative and the loss goes down. Time series are 30 steps instead of 500 to keep CI fast — the
 * models are length-agnostic (the Transformer teacher-forces 30 − 10 = 20 tokens), the weights are the same.
 */

import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ARCHITECTURES } from '@ecg-tmp/core';
import { describe, expect, it } from 'vitest';
import { BACKENDS } from '../src/backend.ts';

const run = promisify(execFile);
const FIXTURE = fileURLToPath(new URL('./fixtures/backend-steps.ts', import.meta.url));
const STEPS = 4;

async function losses(backend: string, model: string): Promise<{ losses: number[]; device: string }> {
  const { stdout } = await run('npx', ['tsx', FIXTURE, backend, model, String(STEPS), '2', '30'], {
    maxBuffer: 1 << 20,
  });
  return JSON.parse(stdout.trim().split('\n').at(-1)!);
}

describe.each(ARCHITECTURES)('%s trains identically on every backend', (model) => {
  it(`cpu, wasm and webgpu give the same losses (1e-4 relative), and the loss decreases`, async () => {
    const results = await Promise.all(BACKENDS.map((b) => losses(b, model)));
    const [reference] = results;
    for (const r of results) {
      expect(r.losses).toHaveLength(STEPS);
      for (let s = 0; s < STEPS; s++) {
        const rel = Math.abs(r.losses[s]! - reference!.losses[s]!) / Math.abs(reference!.losses[s]!);
        expect(rel, `${model} step ${s} on ${r.device}`).toBeLessThan(1e-4);
      }
      expect(r.losses.at(-1)!).toBeLessThan(r.losses[0]!);
    }
  }, 300_000);
});
