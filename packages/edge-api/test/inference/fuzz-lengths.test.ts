/**
 * Oversized bodies and wrong or missing Content-Length on the inference Worker's infer routes (the
 * harness and its contract: ../fuzz-lengths.ts), the valid body a one-ECG request that the CNN answers.
 */

import { N_LEADS, N_STEPS } from '@ecg-tmp/core';
import { beforeAll, describe, it } from 'vitest';
import { MAX_BODY_BYTES } from '../../src/inference/oip.ts';
import { FUZZ_TIMEOUT_MS } from '../fuzz-arbitraries.ts';
import { fuzzLengths, type LengthRoute } from '../fuzz-lengths.ts';
import { JSON_HEADERS, publishDefaults } from './fixtures.ts';

beforeAll(publishDefaults);

describe('request lengths on the inference Worker', () => {
  it('refuses oversized bodies and bad Content-Length with 413/400, answers the rest as usual', {
    timeout: FUZZ_TIMEOUT_MS,
  }, async ({ task }) => {
    const valid = new TextEncoder().encode(
      JSON.stringify({
        inputs: [
          {
            name: 'ecg',
            shape: [1, N_LEADS, N_STEPS],
            datatype: 'FP32',
            data: new Array(N_LEADS * N_STEPS).fill(0.01),
          },
        ],
      }),
    );
    const infer = (label: string, path: string): LengthRoute => ({
      label,
      method: 'POST',
      path,
      headers: JSON_HEADERS,
      max: MAX_BODY_BYTES,
      valid,
      validStatus: 200,
    });
    await fuzzLengths(task, 'inference', [
      infer('infer', '/v2/models/cnn/infer'),
      infer('infer (version or alias)', '/v2/models/cnn/versions/stable/infer'),
    ]);
  });
});
