// An image with more blobs than Node's default of 10 listeners per AbortSignal, moved with every
// blob in flight at once: every task listens on the group's one signal, which once printed a
// MaxListenersExceededWarning on copy and pull (a concurrency of 6 was enough).
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { digestOf } from '../../../src/oci/digest.js';
import { OciLayout } from '../../../src/oci/layout.js';
import { type Descriptor, MediaType } from '../../../src/oci/types.js';
import type { Reference } from '../../../src/reference/index.js';
import { copyImage } from '../../../src/registry/ops/copy.js';
import { pullToLayout } from '../../../src/registry/ops/pull.js';
import { startRegistry, type TestRegistry } from '../../harness/registry.js';
import { clientFor, opener, randomBlob, withTempDir } from '../client/helpers.js';

const LAYERS = 14;

/** Listener warnings emitted while `fn` runs. */
async function listenerWarnings(fn: () => Promise<void>): Promise<string[]> {
  const seen: string[] = [];
  const onWarning = (w: Error): void => {
    if (w.name === 'MaxListenersExceededWarning') seen.push(w.message);
  };
  process.on('warning', onWarning);
  try {
    await fn();
    // Warnings are emitted on the next tick.
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off('warning', onWarning);
  }
  return seen;
}

describe('an image of many layers, all in flight at once (http registry)', () => {
  let reg: TestRegistry;
  let src: Reference;
  let manifestDesc: Descriptor;
  before(async () => {
    reg = await startRegistry({ mode: 'http' });
    const { client } = clientFor(reg);
    const repo = { registry: reg.host, repository: 'many/src' };
    const layers: Descriptor[] = [];
    for (let i = 0; i < LAYERS; i++) {
      // Over the single-PUT size, so each layer streams in a PATCH with its own listeners.
      const { bytes, desc } = randomBlob(1024 * 1024 + 100 + i);
      const layer = { ...desc, mediaType: MediaType.OciLayerGzip };
      await client.pushBlob(repo, layer, opener(bytes));
      layers.push(layer);
    }
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers' } }));
    const configDesc = { mediaType: MediaType.OciConfig, digest: digestOf(config), size: config.byteLength };
    await client.pushBlob(repo, configDesc, opener(config));
    const manifest = Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: configDesc, layers }),
    );
    manifestDesc = await client.putManifest(repo, 'v1', manifest, MediaType.OciManifest);
    src = { ...repo, tag: 'v1' };
  });
  after(async () => {
    await reg?.stop();
  });

  test('copy and pull with every blob at once: done, and no listener warning', async () => {
    const { client } = clientFor(reg, { concurrency: LAYERS + 1 });
    const warnings = await listenerWarnings(async () => {
      const copied = await copyImage(client, src, { ...src, repository: 'many/dst' });
      assert.equal(copied.digest, manifestDesc.digest);
      await withTempDir(async (dir) => {
        const layout = await OciLayout.init(join(dir, 'layout'));
        const pulled = await pullToLayout(client, src, layout);
        assert.equal(pulled.digest, manifestDesc.digest);
        const blobs = await readdir(join(dir, 'layout', 'blobs', 'sha256'));
        assert.equal(blobs.length, LAYERS + 2);
      });
    });
    assert.deepEqual(warnings, []);
  });
});
