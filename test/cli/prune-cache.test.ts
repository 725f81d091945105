// The build cache survives `prune` (its layers make rebuilds instant) and goes with
// `prune --build-cache`, after which the same build runs its steps again.
import assert from 'node:assert/strict';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { busyboxImage } from '../harness/fixtures.js';
import { gantry, withTempDir } from './helpers.js';

function cachedSteps(stderr: string): number {
  return stderr
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { type: string; cached?: boolean })
    .filter((e) => e.type === 'done' && e.cached === true).length;
}

test('prune keeps the build cache; prune --build-cache drops it and the next build runs again', async () => {
  const fixture = await busyboxImage();
  await withTempDir(async (tmp) => {
    const store = join(tmp, 'store');
    // With SOURCE_DATE_EPOCH a RUN step's layer is reproducible (mtimes are clamped), as in BuildKit.
    const env = { SOURCE_DATE_EPOCH: '1700000000' };
    assert.equal((await gantry(['load', fixture.layoutDir, '-t', 'busybox:1'], { store })).code, 0);
    const ctx = join(tmp, 'ctx');
    await mkdir(ctx);
    await writeFile(join(ctx, 'Dockerfile'), 'FROM busybox:1\nRUN echo built > /built.txt\n');
    const first = await gantry(['build', ctx, '--progress=json'], { store, env });
    assert.equal(first.code, 0, first.stderr);
    const digest = first.stdout.trim();
    assert.equal((await gantry(['rmi', digest], { store })).code, 0);
    const kept = await gantry(['prune'], { store });
    assert.equal(kept.code, 0, kept.stderr);
    const again = await gantry(['build', ctx, '--progress=json'], { store, env });
    assert.equal(again.code, 0, again.stderr);
    assert.equal(cachedSteps(again.stderr), 1, 'the RUN step came from the cache after a plain prune');
    assert.equal((await gantry(['rmi', digest], { store })).code, 0);
    const dropped = await gantry(['prune', '--build-cache'], { store });
    assert.equal(dropped.code, 0, dropped.stderr);
    assert.deepEqual(await readdir(store).then((names) => names.filter((n) => n === 'cache')), []);
    const third = await gantry(['build', ctx, '--progress=json'], { store, env });
    assert.equal(third.code, 0, third.stderr);
    assert.equal(cachedSteps(third.stderr), 0, 'nothing was cached after prune --build-cache');
    assert.equal(third.stdout.trim(), digest, 'and the rebuilt image is the same');
  });
});
