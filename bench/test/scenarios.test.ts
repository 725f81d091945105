/**
 * Tests of the pieces behind the registry and Dockerfile scenarios (run with
 * `npx tsc -p . && node --test dist/bench/test/`): the stepped series (repeats, warm-ups, checks,
 * failures), the layered image and its blob check, and the base-bytes accounting, against the
 * real registry and fault proxy of the test harness with gantry moving the bytes.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GantryError } from '../../src/errors.js';
import { hostPlatform } from '../../src/oci/platform.js';
import { startFaultProxy } from '../../test/harness/proxy.js';
import { run } from '../../test/harness/run.js';
import { MiB, type TreeRecipe } from '../lib/data.js';
import { ensureLayeredImage, type LayeredImage } from '../lib/image.js';
import { blobTraffic, GANTRY_BIN, gantryArgv, manifestDigest, startLoopbackRegistry } from '../lib/loopback.js';
import { checkBlobs } from '../lib/registry-scenarios.js';
import { runStepped, type SteppedContender } from '../lib/steps.js';

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'gantry-bench-scenarios-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

const sh = (script: string) => ({ file: 'sh', args: ['-c', script], stdout: 'capture' as const });

describe('runStepped', () => {
  it('times every step apart, repeats and warms up as asked, and hands each result to its check', async () => {
    const seen: string[] = [];
    const contender: SteppedContender<{ n: number }> = {
      name: 'x',
      prepare: async () => ({ n: 0 }),
      steps: [
        { name: 'cold', spec: () => sh('echo cold'), check: (_s, r) => void seen.push(r.stdout.trim()) },
        {
          name: 'again',
          warmup: 1,
          repeat: 2,
          spec: (s) => sh(`echo again-${++s.n}`),
          check: (_s, r) => void seen.push(r.stdout.trim()),
        },
      ],
      finish: async () => {},
      cleanup: async () => {},
    };
    const results = await runStepped([contender as SteppedContender], { runs: 2 });
    // Per run: cold, then a warm-up and two timed repetitions on the same state.
    assert.deepEqual(seen, ['cold', 'again-1', 'again-2', 'again-3', 'cold', 'again-1', 'again-2', 'again-3']);
    const cold = results.get('x')?.get('cold');
    const again = results.get('x')?.get('again');
    assert.ok(cold?.ok && again?.ok);
    assert.equal(cold.summary.runs, 2);
    assert.equal(again.summary.runs, 4);
  });

  it('fails a contender whose step or check fails, cleans up, and lets the others finish', async () => {
    const cleaned: string[] = [];
    const make = (name: string, script: string, checkFails = false): SteppedContender<string> => ({
      name,
      prepare: async () => name,
      steps: [
        {
          name: 'only',
          spec: () => sh(script),
          check: () => {
            if (checkFails) throw new Error('not cached');
          },
        },
      ],
      finish: async () => {},
      cleanup: async (s) => void cleaned.push(s),
    });
    const results = await runStepped(
      [make('broken', 'exit 4'), make('unchecked', 'true', true), make('fine', 'true')] as SteppedContender[],
      { runs: 2 },
    );
    const broken = results.get('broken')?.get('only');
    assert.ok(broken && !broken.ok && /exited with 4/.test(broken.error.message));
    const unchecked = results.get('unchecked')?.get('only');
    assert.ok(unchecked && !unchecked.ok && /not cached/.test(unchecked.error.message));
    assert.equal(results.get('fine')?.get('only')?.ok, true);
    // A failed contender is not run again; every prepared state is cleaned up.
    assert.deepEqual(cleaned, ['broken', 'unchecked', 'fine', 'fine']);
  });
});

const SMALL: readonly TreeRecipe[] = [1, 2].map((i) => ({
  kind: 'tree',
  seed: 0x5e + i,
  textBytes: MiB / 2,
  textFiles: 20,
  binaryFiles: [MiB / 4],
}));

describe('layered image', () => {
  let image: LayeredImage;
  before(async () => {
    image = await ensureLayeredImage(join(root, 'image'), 'small', SMALL, hostPlatform());
  });

  it('has one gzip layer per tree, and is reused while the recipes hold', async () => {
    assert.equal(image.reused, false);
    assert.equal(image.layers.length, 2);
    for (const l of image.layers) assert.equal(l.mediaType, 'application/vnd.oci.image.layer.v1.tar+gzip');
    const again = await ensureLayeredImage(join(root, 'image'), 'small', SMALL, hostPlatform());
    assert.equal(again.reused, true);
    assert.equal(again.manifest.digest, image.manifest.digest);
    // The trees are deterministic, and so is the image made from them.
    const elsewhere = await ensureLayeredImage(join(root, 'image2'), 'small', SMALL, hostPlatform());
    assert.equal(elsewhere.manifest.digest, image.manifest.digest);
  });

  it('checkBlobs sums the blobs, and refuses a truncated layer', async () => {
    const bytes = await checkBlobs(image.layoutDir, image);
    assert.equal(bytes, image.bytes - image.manifest.size);
    const copy = join(root, 'copy');
    await run('cp', ['-a', image.layoutDir, copy]);
    const layer = image.layers[1]?.digest.slice('sha256:'.length) as string;
    await truncate(join(copy, 'blobs', 'sha256', layer), 10);
    await assert.rejects(checkBlobs(copy, image), (e) => GantryError.is(e) && e.code === 'BENCH_BAD_OUTPUT');
  });

  it('blobTraffic counts what gantry pushes and pulls through the proxy, and nothing for a mount', async () => {
    const reg = await startLoopbackRegistry();
    const proxy = await startFaultProxy({ upstream: reg.url });
    try {
      const gantry = (...args: string[]) => {
        const command = gantryArgv(GANTRY_BIN, ['--plain-http', '--progress', 'quiet', ...args]);
        return run(command.file, command.args, { env: { ...process.env, GANTRY_STORE: join(root, 'store') } });
      };
      const layers = new Set(image.layers.map((l) => l.digest));
      const layerBytes = image.layers.reduce((n, l) => n + l.size, 0);

      await gantry('copy', `oci:${image.layoutDir}:small`, `${proxy.host}/bench/small:v1`);
      assert.equal(await manifestDigest(reg, 'bench/small', 'v1'), image.manifest.digest);
      assert.deepEqual(blobTraffic(proxy.stats.log, layers), { pulled: 0, pushed: layerBytes });
      // Only the named blobs count: the config went up too, and is not a layer.
      assert.ok(proxy.stats.total.requestBytes > layerBytes);

      proxy.stats.reset();
      await gantry('pull', `${proxy.host}/bench/small:v1`);
      assert.deepEqual(blobTraffic(proxy.stats.log, layers), { pulled: layerBytes, pushed: 0 });

      proxy.stats.reset();
      await gantry('copy', `${proxy.host}/bench/small:v1`, `${proxy.host}/bench/other:v1`);
      assert.deepEqual(blobTraffic(proxy.stats.log, layers), { pulled: 0, pushed: 0 });
      assert.ok(proxy.stats.log.some((e) => e.method === 'POST' && /[?&]mount=/.test(e.target)));
    } finally {
      await proxy.stop();
      await reg.stop();
    }
  });

  it('manifestDigest names a missing tag as bad output', async () => {
    const reg = await startLoopbackRegistry();
    try {
      await assert.rejects(
        manifestDigest(reg, 'bench/none', 'v1'),
        (e) => GantryError.is(e) && e.code === 'BENCH_BAD_OUTPUT',
      );
    } finally {
      await reg.stop();
    }
  });
});
