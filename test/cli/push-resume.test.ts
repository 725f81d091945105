// Issue 8 item 10: a chunked upload started over after a 500. `push --chunk-size 1M` through a
// proxy that failed every third request gave up after 3 attempts, each restarting from byte 0.
// Now a failed chunk is resumed where the registry says the session stands (GET on the upload
// URL, its Range), as regctl does: the push completes, skopeo reads the same digest, and the
// layer's bytes reach the registry once, not once per attempt.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { startFaultProxy, statusEvery } from '../harness/proxy.js';
import { startRegistry } from '../harness/registry.js';
import { gantry, tool, withTempDir } from './helpers.js';

test('push --chunk-size 1M through a registry that fails every third upload request resumes each failed chunk', async () => {
  const registry = await startRegistry({ mode: 'http' });
  const proxy = await startFaultProxy({ upstream: registry.url });
  try {
    await withTempDir(async (tmp) => {
      const store = join(tmp, 'store');
      const src = join(tmp, 'src');
      await mkdir(src);
      const size = 6 * 1024 * 1024;
      await writeFile(join(src, 'noise.bin'), randomBytes(size));
      const built = await gantry(['build', src, '-t', 'noise:1'], { store });
      assert.equal(built.code, 0, built.stderr);
      proxy.setRules([{ name: 'flaky', path: /\/blobs\/uploads\//, action: statusEvery(500, 3) }]);
      const pushed = await gantry(
        ['--plain-http', '--chunk-size', '1M', 'push', 'noise:1', `${proxy.host}/noise/resumed:1`],
        { store },
      );
      assert.equal(pushed.code, 0, pushed.stderr);
      assert.ok(proxy.stats.rule('flaky').faults >= 2, 'several upload requests failed');
      const statusQueries = proxy.stats.matching({ method: 'GET', target: /\/blobs\/uploads\// });
      assert.ok(statusQueries.requests >= 1, 'the session status was asked for');
      // Every failed PATCH reached no registry; the layer's bytes went up once, not from zero again.
      const patched = proxy.stats.matching({ method: 'PATCH' }).requestBytes;
      assert.ok(patched >= size && patched < size * 1.5, `PATCH bytes ${patched} for a ${size}-byte layer`);
      const sk = JSON.parse(
        await tool('skopeo', ['inspect', '--tls-verify=false', `docker://${registry.host}/noise/resumed:1`]),
      ) as { Digest: string };
      assert.equal(sk.Digest, pushed.stdout.trim().split('@')[1]);
    });
  } finally {
    await proxy.stop();
    await registry.stop();
  }
});
