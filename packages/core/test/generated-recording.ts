import { LEAD_NAMES, type LeadName } from '../src/layout.ts';
import type { Recording } from '../src/recording/recording.ts';

/**
 * A generated recording for reader tests: `seconds` at `rate` Hz, lead number l's sample t given by
 * `wave(l, t, rate)` in mV.
 */
export function generatedRecording(
  wave: (lead: number, t: number, rate: number) => number,
  rate: number,
  seconds: number,
  leads: readonly LeadName[] = LEAD_NAMES,
): Recording {
  const length = Math.round(rate * seconds);
  const out: Partial<Record<LeadName, Float32Array>> = {};
  leads.forEach((name, l) => {
    out[name] = Float32Array.from({ length }, (_, t) => wave(l, t, rate));
  });
  return { rate, length, leads: out, source: 'generated', warnings: [] };
}
