// The crane-style library functions on their own: typed options, progress events, cancellation
// through the AbortSignal, and results a caller can use without parsing CLI output.
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { append, createSession, flatten, GantryError, mutate, tag, validate } from '../../src/index.js';
import type { ProgressEvent } from '../../src/util/progress.js';
import { isolatedHome, withTempDir } from '../cli/helpers.js';
import { startRegistry } from '../harness/registry.js';
import { skopeoInspectConfig } from '../harness/validate.js';

test('append, mutate, tag and validate as library calls: typed results, progress events, AbortSignal', async () => {
  const registry = await startRegistry({ mode: 'http' });
  const saved = { ...process.env };
  try {
    await withTempDir(async (tmp) => {
      Object.assign(process.env, await isolatedHome(tmp));
      const session = createSession({ store: join(tmp, 'store'), registry: { plainHttp: true } });
      const r = registry.host;
      const dir = join(tmp, 'layer');
      await mkdir(dir);
      await writeFile(join(dir, 'hello.txt'), 'hi\n');
      const events: ProgressEvent[] = [];
      const progress = (e: ProgressEvent) => events.push(e);

      const appended = await append([dir], { session, progress, platform: 'linux/arm64', tag: `${r}/lib/app:1` });
      assert.equal(appended.destination, `${r}/lib/app:1`);
      assert.equal(appended.layers.length, 1);
      assert.ok(events.some((e) => e.type === 'done' && e.id === `push ${r}/lib/app:1`));

      const mutated = await mutate(`${r}/lib/app:1`, { session, env: { MODE: 'prod' }, tag: 'prod' });
      assert.equal(mutated.reference, `${r}/lib/app:prod`);
      const config = (await skopeoInspectConfig(`docker://${r}/lib/app:prod`, { tlsVerify: false })) as {
        architecture: string;
        config: { Env: string[] };
      };
      assert.equal(config.architecture, 'arm64');
      assert.deepEqual(config.config.Env, ['MODE=prod']);

      const tagged = await tag(`${r}/lib/app:prod`, 'stable', { session });
      assert.equal(tagged.digest, mutated.digest);
      const checked = await validate(`${r}/lib/app:stable`, { session });
      assert.deepEqual(checked.problems, []);
      assert.equal(checked.checked, 3); // manifest, config, layer

      const controller = new AbortController();
      controller.abort();
      await assert.rejects(
        flatten(`${r}/lib/app:1`, { session, signal: controller.signal, tag: 'flat' }),
        (err: unknown) => GantryError.is(err) && err.code === 'ABORTED',
      );
    });
  } finally {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
    await registry.stop();
  }
});
