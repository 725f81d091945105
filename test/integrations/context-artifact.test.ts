// The pod side of the kubernetes driver's large contexts (src/integrations/kubernetes/context-artifact.ts): an
// oci-artifact:// context must be pinned by digest and be a gantry build context; anything else
// (a tag, an image manifest) is refused before anything is built or pushed.
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { gantry, isolatedHome, run, withTempDir } from '../cli/helpers.js';
import { startRegistry } from '../harness/registry.js';

test('an oci-artifact:// context is refused unless it is pinned by digest and is a gantry build context (nothing built or pushed)', async () => {
  const registry = await startRegistry({ mode: 'http' });
  try {
    await withTempDir(async (tmp) => {
      const env = await isolatedHome(tmp);
      const store = join(tmp, 'store');
      const dir = join(tmp, 'dir');
      await mkdir(dir);
      await writeFile(join(dir, 'a.txt'), 'a\n');
      const image = `${registry.host}/x/img:1`;
      const pushed = await gantry(['build', dir, '--frontend', 'dir', '-t', image, '--push'], { store, env });
      assert.equal(pushed.code, 0, pushed.stderr);
      const digest = pushed.stdout.trim().split('@')[1] as string;
      const out = `${registry.host}/x/out:1`;
      const asImage = await gantry(['build', `oci-artifact://${registry.host}/x/img@${digest}`, '-t', out, '--push'], {
        store,
        env,
      });
      assert.equal(asImage.code, 2, asImage.stderr);
      assert.match(
        asImage.stderr,
        /is not a build context \(artifactType null, want application\/vnd\.gantry\.build-context\.v1/,
      );
      const tagged = await gantry(['build', `oci-artifact://${image}`, '-t', out, '--push'], { store, env });
      assert.equal(tagged.code, 2, tagged.stderr);
      assert.match(tagged.stderr, /invalid context oci-artifact:\/\/\S+: it names no digest/);
      const inspect = await run('skopeo', ['inspect', '--tls-verify=false', `docker://${out}`]);
      assert.notEqual(inspect.code, 0, 'something was pushed');
    });
  } finally {
    await registry.stop();
  }
});
