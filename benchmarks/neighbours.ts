/**
 * @module
 * Nearest neighbours for the benchmarks that look training pairs up by their input (gamma-test,
 * encoder-probe, knn-spread, linear-probe's k-NN learner): features z-scored on the training bank, then
 * squared Euclidean distances, brute force over the whole bank.
 */

/**
 * Fits per-feature mean and standard deviation on `bank` ([n, width], row-major) and returns a function
 * that z-scores any [m, width] array by them (a constant feature is only centred).
 * @example
 * const z = zScorer(bank, width);
 * const near = nearestNeighbours(z(bank), z(queries), width, 16);
 */
export function zScorer(bank: Float32Array, width: number): (a: Float32Array) => Float32Array {
  const n = bank.length / width;
  const mean = new Float64Array(width);
  const square = new Float64Array(width);
  for (let i = 0; i < n; i++)
    for (let f = 0; f < width; f++) {
      const v = bank[i * width + f]!;
      mean[f]! += v / n;
      square[f]! += (v * v) / n;
    }
  const sd = mean.map((m, f) => Math.sqrt(Math.max(square[f]! - m * m, 0)) || 1);
  return (a) => {
    const z = new Float32Array(a.length);
    for (let i = 0; i < a.length; i++) z[i] = (a[i]! - mean[i % width]!) / sd[i % width]!;
    return z;
  };
}

/** One query's nearest bank rows, nearest first: their indices and squared distances. */
export interface Neighbours {
  readonly index: Int32Array;
  readonly distance: Float64Array;
}

/**
 * For each query row, the `keep` nearest rows of `bank` by squared Euclidean distance, nearest first;
 * equal distances keep the lower bank index first. Keeps a sorted list of `keep` rather than sorting the
 * whole bank per query.
 */
export function nearestNeighbours(
  bank: Float32Array,
  queries: Float32Array,
  width: number,
  keep: number,
): Neighbours[] {
  const n = bank.length / width;
  if (!Number.isInteger(n) || !Number.isInteger(queries.length / width))
    throw new Error(
      `nearestNeighbours: arrays of ${bank.length} and ${queries.length} are not rows of ${width}`,
    );
  const k = Math.min(keep, n);
  const out: Neighbours[] = [];
  for (let q = 0; q < queries.length / width; q++) {
    const index = new Int32Array(k);
    const distance = new Float64Array(k).fill(Number.POSITIVE_INFINITY);
    const base = q * width;
    for (let i = 0; i < n; i++) {
      let sum = 0;
      const row = i * width;
      for (let f = 0; f < width; f++) {
        const e = queries[base + f]! - bank[row + f]!;
        sum += e * e;
      }
      if (!(sum < distance[k - 1]!)) continue;
      // Insert after every kept row at most as far, so equal distances stay in bank order.
      let j = k - 1;
      while (j > 0 && distance[j - 1]! > sum) {
        distance[j] = distance[j - 1]!;
        index[j] = index[j - 1]!;
        j--;
      }
      distance[j] = sum;
      index[j] = i;
    }
    out.push({ index, distance });
  }
  return out;
}
