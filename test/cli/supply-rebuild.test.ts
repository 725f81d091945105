// A rebuild that changed nothing pushes no second SBOM or provenance: the registry already holds
// the image's referrers, as it holds its layers. Pushed to the loopback distribution 2.8 (no
// referrers API: the sha256-<hex> tag schema lists them), counted there.
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { busyboxImage } from '../harness/fixtures.js';
import { startRegistry } from '../harness/registry.js';
import { gantry, isolatedHome, withTempDir } from './helpers.js';

test('a no-change rebuild and push makes and pushes no second SBOM or provenance; a new repository, or provenance mode=max, gets its own', async () => {
  const base = await busyboxImage();
  const registry = await startRegistry({ mode: 'http' });
  try {
    await withTempDir(async (tmp) => {
      const env = await isolatedHome(tmp);
      const store = join(tmp, 'store');
      assert.equal((await gantry(['load', base.layoutDir, '-t', 'bb:1'], { store, env })).code, 0);
      const ctx = join(tmp, 'ctx');
      await mkdir(ctx);
      await writeFile(join(ctx, 'Dockerfile'), 'FROM bb:1\nCOPY a.txt /a.txt\n');
      await writeFile(join(ctx, 'a.txt'), 'a\n');
      const referrers = async (repo: string, digest: string) => {
        const res = await fetch(`${registry.url}/v2/${repo}/manifests/${digest.replace(':', '-')}`, {
          headers: { accept: 'application/vnd.oci.image.index.v1+json' },
        });
        if (res.status === 404) return [];
        assert.equal(res.status, 200);
        return ((await res.json()) as { manifests: { artifactType?: string }[] }).manifests.map((m) => m.artifactType);
      };
      const push = async (ref: string, ...extra: string[]) => {
        const r = await gantry(['build', ctx, '-t', ref, '--push', '--progress=plain', ...extra], { store, env });
        assert.equal(r.code, 0, r.stderr);
        return { digest: r.stdout.trim().split('@')[1] as string, stderr: r.stderr };
      };
      const first = await push(`${registry.host}/app:1`);
      assert.doesNotMatch(first.stderr, /already attached/);
      assert.deepEqual((await referrers('app', first.digest)).sort(), [
        'application/vnd.cyclonedx+json',
        'application/vnd.in-toto+json',
      ]);
      const again = await push(`${registry.host}/app:1`);
      assert.equal(again.digest, first.digest);
      assert.match(again.stderr, /SBOM and provenance: already attached to this image in the registry/);
      assert.doesNotMatch(again.stderr, /generating SBOM/);
      assert.equal((await referrers('app', first.digest)).length, 2, 'no second SBOM or provenance');
      // Another repository has none yet: it gets its own.
      const other = await push(`${registry.host}/other:1`);
      assert.doesNotMatch(other.stderr, /already attached/);
      assert.equal((await referrers('other', first.digest)).length, 2);
      // mode=max records build args that may differ for the same image: always made.
      const max = await push(`${registry.host}/app:1`, '--provenance=mode=max');
      assert.match(max.stderr, /generating SBOM and provenance/);
      // The SBOM is the same document (the same manifest, listed once); the provenance is new.
      const all = await referrers('app', first.digest);
      assert.equal(all.filter((t) => t === 'application/vnd.in-toto+json').length, 2);
      assert.equal(all.length, 3);
    });
  } finally {
    await registry.stop();
  }
});
