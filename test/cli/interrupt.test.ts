// Ctrl-C in the middle of a build: exit 130, no output file, no temp files, store untouched.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { gantry, withTempDir } from './helpers.js';

test('SIGINT during a build leaves nothing half-written', async () => {
  await withTempDir(async (tmp) => {
    const src = join(tmp, 'src');
    await mkdir(src);
    // Incompressible data keeps gzip busy long enough to be interrupted mid-layer.
    for (let i = 0; i < 12; i++) await writeFile(join(src, `blob-${i}.bin`), randomBytes(16 * 1024 * 1024));
    const store = join(tmp, 'store');
    const out = join(tmp, 'out');
    await mkdir(out);
    let sent = false;
    const r = await gantry(
      ['build', src, '-t', 'big:1', '--progress', 'plain', '-o', `type=oci,dest=${join(out, 'img.tar')}`],
      {
        store,
        onStderr: (chunk, child) => {
          if (!sent && /COPY/.test(chunk)) {
            sent = true;
            setTimeout(() => child.kill('SIGINT'), 200);
          }
        },
      },
    );
    assert.ok(sent, `the build never reached the COPY step: ${r.stderr}`);
    assert.equal(r.code, 130, r.stderr);
    assert.match(r.stderr, /interrupted/);
    assert.deepEqual(await readdir(out), []);
    const index = JSON.parse(await readFile(join(store, 'index.json'), 'utf8')) as { manifests: unknown[] };
    assert.deepEqual(index.manifests, []);
    assert.deepEqual(await readdir(join(store, 'ingest')).catch(() => []), []);
    assert.deepEqual(await readdir(join(store, 'leases')).catch(() => []), []);
  });
});
