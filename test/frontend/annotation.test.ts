// --annotation at BuildKit's four levels, with a platform filter, read back from an OCI layout
// output; index annotations on a single-platform image are refused before any work.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { busyboxStore, gantry, withTempDir, writeTree } from './helpers.js';

interface Desc {
  digest: string;
  platform?: { architecture: string };
  annotations?: Record<string, string>;
}

test('--annotation: manifest, index, manifest-descriptor[platform] and index-descriptor levels', async () => {
  await withTempDir(async (tmp) => {
    const store = await busyboxStore(tmp);
    const ctx = join(tmp, 'ctx');
    await writeTree(ctx, { Dockerfile: 'FROM busybox:1\nCOPY a.txt /a.txt\n', 'a.txt': 'a\n' });
    const out = join(tmp, 'out');
    const r = await gantry(
      [
        'build',
        ctx,
        '--platform',
        'linux/amd64,linux/arm64',
        '--annotation',
        'org.example.all=1',
        '--annotation',
        'index:org.example.index=2',
        '--annotation',
        'manifest-descriptor[linux/arm64]:org.example.arm=3',
        '--annotation',
        'index-descriptor:org.example.entry=4',
        '--annotation',
        'manifest[linux/amd64]:org.example.amd=5',
        '-o',
        `type=oci,dest=${out},tar=false`,
      ],
      { store },
    );
    assert.equal(r.code, 0, r.stderr);
    const blob = async <T>(digest: string): Promise<T> =>
      JSON.parse(await readFile(join(out, 'blobs', 'sha256', digest.slice(7)), 'utf8')) as T;
    const top = JSON.parse(await readFile(join(out, 'index.json'), 'utf8')) as { manifests: Desc[] };
    const entry = top.manifests[0] as Desc;
    assert.equal(entry.annotations?.['org.example.entry'], '4');
    const index = await blob<{ manifests: Desc[]; annotations?: Record<string, string> }>(entry.digest);
    assert.deepEqual(index.annotations, { 'org.example.index': '2' });
    for (const child of index.manifests) {
      const arch = child.platform?.architecture;
      assert.equal(child.annotations?.['org.example.arm'], arch === 'arm64' ? '3' : undefined);
      const manifest = await blob<{ annotations?: Record<string, string> }>(child.digest);
      assert.equal(manifest.annotations?.['org.example.all'], '1');
      assert.equal(manifest.annotations?.['org.example.amd'], arch === 'amd64' ? '5' : undefined);
    }
    const single = await gantry(['build', ctx, '--annotation', 'index:org.example.index=2', '-t', 'x:1'], { store });
    assert.equal(single.code, 2, single.stderr);
    assert.match(single.stderr, /index annotations are not supported for a single-platform image/);
  });
});
