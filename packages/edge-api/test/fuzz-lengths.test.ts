/**
 * Oversized bodies and wrong or missing Content-Length on every write route of the registry Worker
 * (the harness and its contract: fuzz-lengths.ts): publish (multipart and JSON), alias moves, version
 * deletes, blob uploads and orphan collection.
 */

import { describe, it } from 'vitest';
import { MAX_BLOB_BYTES } from '../src/routes/blobs.ts';
import { MAX_ALIAS_BODY_BYTES, MAX_PUBLISH_BYTES } from '../src/routes/models.ts';
import { FUZZ_TIMEOUT_MS } from './fuzz-arbitraries.ts';
import { fuzzLengths, type LengthRoute } from './fuzz-lengths.ts';
import { fakeVersion, publish, publishForm, publishToken } from './helpers.ts';

describe('request lengths on the registry', () => {
  it('refuses oversized bodies and bad Content-Length with 413/400, answers the rest as usual, stores nothing', {
    timeout: FUZZ_TIMEOUT_MS,
  }, async ({ task }) => {
    const token = await publishToken();
    const auth = { Authorization: `Bearer ${token}` };
    const v = await fakeVersion('lengths', '1.0.0');
    const published = await publish(token, 'lengths', v.manifest, v.files);
    if (published.status !== 201) throw new Error(`publish answered ${published.status}`);
    const form = new Response(publishForm(v.manifest, v.files));
    const multipartType = form.headers.get('content-type')!;
    const multipart = new Uint8Array(await form.arrayBuffer());
    const [path, blob] = [...v.files][0]!;
    const sha256 = v.manifest.files.find((f) => f.path === path)!.sha256;
    const encode = (s: string) => new TextEncoder().encode(s);
    const routes: LengthRoute[] = [
      {
        label: 'publish (multipart)',
        method: 'POST',
        path: '/v1/models/lengths/versions',
        headers: { ...auth, 'Content-Type': multipartType },
        max: MAX_PUBLISH_BYTES,
        valid: multipart,
        validStatus: 409, // the version exists: read in full, parsed, refused as a duplicate
      },
      {
        label: 'publish (JSON manifest)',
        method: 'POST',
        path: '/v1/models/lengths/versions',
        headers: { ...auth, 'Content-Type': 'application/json' },
        max: MAX_PUBLISH_BYTES,
        valid: encode(JSON.stringify(v.manifest)),
        validStatus: 409,
      },
      {
        label: 'alias move',
        method: 'PUT',
        path: '/v1/models/lengths/aliases/stable',
        headers: { ...auth, 'Content-Type': 'application/json' },
        max: MAX_ALIAS_BODY_BYTES,
        valid: encode('{"version":"9.9.9"}'),
        validStatus: 404, // no such version: the body was read and parsed
      },
      {
        label: 'version delete',
        method: 'DELETE',
        path: '/v1/models/lengths/versions/9.9.9',
        headers: auth,
        max: null,
        valid: null,
        validStatus: 404,
      },
      {
        label: 'blob upload',
        method: 'PUT',
        path: `/v1/blobs/${sha256}`,
        headers: auth,
        max: MAX_BLOB_BYTES,
        valid: blob,
        validStatus: 201, // the blob is stored already: the same bytes again change nothing
      },
      {
        label: 'orphan collection',
        method: 'POST',
        path: '/v1/admin/orphans/collect?min_age=86400',
        headers: auth,
        max: null,
        valid: null,
        validStatus: 200,
      },
    ];
    await fuzzLengths(task, 'registry', routes);
  });
});
