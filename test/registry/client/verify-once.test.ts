// Every blob is hashed once on its way through a copy: a push whose source already checks itself
// against the same descriptor (a registry or layout blob read) is not hashed again. These tests pin
// that skipping the second hash never lets a wrong blob through.
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { GantryError } from '../../../src/errors.js';
import { VerifyingStream } from '../../../src/oci/digest.js';
import { verifiesItself } from '../../../src/registry/client/upload.js';
import { startRegistry, type TestRegistry } from '../../harness/registry.js';
import { clientFor, opener, randomBlob, startProxy, viaProxy } from './helpers.js';

function code(err: unknown): string | undefined {
  return GantryError.is(err) ? err.code : undefined;
}

test('only a VerifyingStream for the same digest and size counts as checking itself', () => {
  const { desc } = randomBlob(100);
  const other = randomBlob(100).desc;
  assert.equal(verifiesItself(new VerifyingStream(desc.digest, desc.size), desc), true);
  assert.equal(verifiesItself(new VerifyingStream(other.digest, other.size), desc), false);
  assert.equal(verifiesItself(new VerifyingStream(desc.digest), desc), false, 'no size: a longer blob would pass');
  assert.equal(verifiesItself(new VerifyingStream(desc.digest, desc.size + 1), desc), false);
  assert.equal(verifiesItself(new PassThrough(), desc), false);
});

describe('copying a blob hashes it once and still refuses a tampered one (http registry)', () => {
  let reg: TestRegistry;
  before(async () => {
    reg = await startRegistry({ mode: 'http' });
  });
  after(async () => {
    await reg?.stop();
  });

  test('a source read from a registry that flips a byte: DIGEST_MISMATCH, nothing stored', async () => {
    const src = { registry: reg.host, repository: 'once/src' };
    const dst = { registry: reg.host, repository: 'once/dst' };
    const { client } = clientFor(reg);
    const proxy = await startProxy(reg, {
      plan: (seen) => (seen.method === 'GET' && seen.path.includes('/blobs/') ? { flipAt: 700 } : undefined),
    });
    try {
      const tampering = clientFor(viaProxy(reg, proxy), { plainHttp: [proxy.host] }).client;
      // Small blobs go in one PUT, large ones in a streamed PATCH: both paths.
      for (const size of [1000, 2 * 1024 * 1024]) {
        const { bytes, desc } = randomBlob(size);
        await client.pushBlob(src, desc, opener(bytes));
        const open = () => tampering.openBlob({ ...src, registry: proxy.host }, desc);
        const probe = await open();
        probe.destroy();
        assert.equal(verifiesItself(probe, desc), true, 'the registry read is the only check');
        const err = await client.pushBlob(dst, desc, open).catch((e: unknown) => e);
        assert.equal(code(err), 'DIGEST_MISMATCH', `size ${size}: ${String(err)}`);
        assert.equal(await client.blobSize(dst, desc.digest), undefined, `size ${size}`);
        // The same blob read untampered is copied.
        assert.equal(await client.pushBlob(dst, desc, () => client.openBlob(src, desc)), 'uploaded');
        assert.equal(await client.blobSize(dst, desc.digest), size);
      }
    } finally {
      await proxy.close();
    }
  });
});
