/**
 * `npm run train` end to end on a small synthetic set: a run interrupted with SIGINT and resumed ends
 * with exactly the weights of the same run left alone; bad arguments stop with exit code 2 before work.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCheckpoint } from '../src/checkpoint.ts';
import { ROOT, syntheticCache } from '../src/synthetic.ts';
import { CHECKPOINT_FILE, LOG_FILE, type RunState } from '../src/train.ts';

let work: string;
let cache: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'train-cli-'));
  cache = await syntheticCache({ count: 40, seed: 5, dataDir: join(ROOT, 'data') });
}, 120_000);

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

function trainArgs(out: string): string[] {
  return [
    'packages/trainer/src/cli.ts',
    '--model',
    'squeezenet1d',
    '--data',
    cache,
    '--out',
    out,
    '--epochs',
    '2',
    '--batch',
    '4',
    '--train-limit',
    '16',
    '--val-limit',
    '4',
  ];
}

function start(args: string[]): {
  child: ChildProcess;
  done: Promise<{ code: number | null; stderr: string }>;
} {
  // node itself, not npx: the SIGINT must reach the trainer, not a wrapper that dies of it.
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const done = new Promise<{ code: number | null; stderr: string }>((resolve) =>
    child.on('close', (code, signal) =>
      resolve({ code, stderr: signal ? `${stderr}\n(killed by ${signal})` : stderr }),
    ),
  );
  return { child, done };
}

async function weights(run: string): Promise<Map<string, Float32Array>> {
  const { arrays } = await readCheckpoint<RunState>(join(run, CHECKPOINT_FILE));
  return arrays;
}

describe('npm run train', () => {
  it('resumes bit-for-bit after SIGINT', async () => {
    const straight = join(work, 'straight');
    const broken = join(work, 'broken');
    const a = start(trainArgs(straight));
    const b = start(trainArgs(broken));
    // Interrupt the second run as soon as it reports its first step.
    await new Promise<void>((resolve) => {
      b.child.stderr!.on('data', (d: Buffer) => {
        if (/step 1\//.test(d.toString())) resolve();
      });
    });
    // Twice in quick succession, as a terminal's Ctrl-C arrives when npm or tsx relay it: still one
    // clean stop. (A second signal that lands while Node is already tearing down after the checkpoint
    // would get the default action; relayed duplicates arrive within milliseconds, not then.)
    b.child.kill('SIGINT');
    setTimeout(() => b.child.kill('SIGINT'), 10);
    const [ra, rb] = await Promise.all([a.done, b.done]);
    expect(ra.code, ra.stderr).toBe(0);
    expect(rb.code, rb.stderr).toBe(130);
    expect(rb.stderr).toMatch(/checkpoint written/);
    const interrupted = await readCheckpoint<RunState>(join(broken, CHECKPOINT_FILE));
    expect(interrupted.state.finished).toBe(false);
    expect(interrupted.state.step).toBeGreaterThan(0);
    expect(interrupted.state.step).toBeLessThan(8);
    // Stopped between steps, not held until the epoch's end.
    expect(interrupted.state.stepInEpoch).toBeGreaterThan(0);

    const resumed = start(['packages/trainer/src/cli.ts', '--out', broken, '--resume']);
    const rr = await resumed.done;
    expect(rr.code, rr.stderr).toBe(0);
    expect(rr.stderr).toMatch(new RegExp(`resuming at step ${interrupted.state.step}`));

    const [wa, wb] = await Promise.all([weights(straight), weights(broken)]);
    expect([...wb.keys()]).toEqual([...wa.keys()]);
    for (const [name, values] of wa) expect(wb.get(name), name).toEqual(values);
    const logA = (await readFile(join(straight, LOG_FILE), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const logB = (await readFile(join(broken, LOG_FILE), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(logB.map((l) => [l.epoch, l.trainLoss, l.valLoss])).toEqual(
      logA.map((l) => [l.epoch, l.trainLoss, l.valLoss]),
    );
    expect(logA).toHaveLength(2);
  }, 300_000);

  it.each([
    [
      ['--model', 'resnet', '--out', 'x'],
      /unknown --model 'resnet'. Expected one of: squeezenet1d, cnn-lstm, transformer/,
    ],
    [['--model', 'cnn-lstm'], /--out is required/],
    [['--model', 'cnn-lstm', '--out', 'x', '--batch', '0'], /--batch must be an integer ≥ 1/],
    [['--model', 'cnn-lstm', '--out', 'x', '--backend', 'tpu'], /unknown --backend 'tpu'/],
    [['--model', 'cnn-lstm', '--out', 'x', '--lr', 'fast'], /--lr must be a number/],
    [['--model', 'cnn-lstm', '--out', 'x', '--data', '/nonexistent/folder'], /nonexistent/],
    [['--out', '/nonexistent/run', '--resume'], /has no checkpoint.bin/],
  ])('rejects %j with exit code 2 before any work', async (args, message) => {
    const r = await start(['packages/trainer/src/cli.ts', ...args]).done;
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toMatch(/usage: npm run train/);
  });
});
