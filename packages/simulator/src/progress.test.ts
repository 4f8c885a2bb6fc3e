import { describe, expect, it } from 'vitest';
import { progressLine } from './progress.ts';

describe('progressLine', () => {
  it('shows count, percentage, rate and ETA, then the elapsed time when done', () => {
    expect(progressLine(250, 1000, 10, 'pairs', 8)).toBe('[##......] 250/1000 25.0%  25.0 pairs/s  ETA 0:30');
    expect(progressLine(1000, 1000, 3725, 'pairs', 4)).toBe(
      '[####] 1000/1000 100.0%  0.3 pairs/s  in 1:02:05',
    );
    expect(progressLine(0, 10, 0, 'pairs', 4)).toContain('ETA --:--');
  });
});
