/**
 * @module
 * A one-line progress bar with rate and ETA for stderr. On a terminal it redraws in place (at most
 * every 100 ms); otherwise it prints a line every 10%.
 */

export interface Progress {
  /** Adds `n` finished items. */
  tick(n?: number): void;
  /** Prints the final line. */
  done(): void;
}

function clock(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** Renders the bar text (exported for tests). */
export function progressLine(
  done: number,
  total: number,
  elapsedS: number,
  unit: string,
  width = 24,
): string {
  const frac = total > 0 ? Math.min(1, done / total) : 1;
  const filled = Math.round(frac * width);
  const rate = elapsedS > 0 ? done / elapsedS : 0;
  const eta = rate > 0 ? (total - done) / rate : Number.POSITIVE_INFINITY;
  return (
    `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${(frac * 100).toFixed(1)}%  ` +
    `${rate.toFixed(1)} ${unit}/s  ${done < total ? `ETA ${clock(eta)}` : `in ${clock(elapsedS)}`}`
  );
}

export function createProgress(
  total: number,
  {
    stream = process.stderr,
    unit = 'pairs',
    enabled = true,
  }: { stream?: NodeJS.WriteStream; unit?: string; enabled?: boolean } = {},
): Progress {
  const start = performance.now();
  const tty = stream.isTTY === true;
  let done = 0;
  let lastDraw = 0;
  let lastDecile = -1;
  const draw = (final: boolean) => {
    if (!enabled) return;
    const line = progressLine(done, total, (performance.now() - start) / 1000, unit);
    if (tty) stream.write(`\r${line}\x1b[K${final ? '\n' : ''}`);
    else stream.write(`${line}\n`);
  };
  return {
    tick(n = 1) {
      done += n;
      const now = performance.now();
      if (tty) {
        if (now - lastDraw >= 100) {
          lastDraw = now;
          draw(false);
        }
      } else {
        const decile = Math.floor((done / total) * 10);
        if (decile > lastDecile && done < total) {
          lastDecile = decile;
          draw(false);
        }
      }
    },
    done() {
      draw(true);
    },
  };
}
