/**
 * @module
 * How a reliability test (fuzzing, fault injection, abuse, load) reports what it did, for
 * docs/reliability.md: it puts one figure on its own task's meta, which vitest carries from any pool
 * (workerd included) to test/reliability-reporter.ts, which writes the table after a full run.
 *
 * @example
 * it('fuzzes POST /v2/models/:name/infer', async ({ task }) => {
 *   let requests = 0, failures = 0;
 *   // … generate, send, count …
 *   reportFigure(task, { area: 'bad input', what: 'infer bodies fuzzed (fast-check)', count: requests, unit: 'requests', failures });
 *   expect(failures).toBe(0);
 * });
 */

export interface ReliabilityFigure {
  /** The section of issue 10 it belongs to. */
  readonly area: 'bad input' | 'faults' | 'abuse and access' | 'load';
  /** What was exercised, in a few words ("publish with R2 failing mid-upload"). */
  readonly what: string;
  /** How many: requests fuzzed, faults injected, seconds of load held, … */
  readonly count: number;
  readonly unit: string;
  /** How many of them broke the property the test asserts (the test fails when this is not 0). */
  readonly failures: number;
  /** Anything else worth a column: throughput, p50/p99, … */
  readonly note?: string;
}

declare module 'vitest' {
  interface TaskMeta {
    reliability?: ReliabilityFigure[];
  }
}

/** Adds a figure to the running test's meta (several per test are fine). */
export function reportFigure(
  task: { meta: { reliability?: ReliabilityFigure[] } },
  figure: ReliabilityFigure,
): void {
  task.meta.reliability = [...(task.meta.reliability ?? []), figure];
}
