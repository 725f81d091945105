// The README's quick start: the bundled Dockerfile example builds, lists, and holds what it says.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { freshPath } from '../harness/fresh-path.js';
import { gantry, repoRoot, tool, withTempDir } from './helpers.js';

const site = join(repoRoot, 'examples', 'site');

test('examples/site builds from its Dockerfile and the result is what the Dockerfile says', async () => {
  await withTempDir(async (tmp) => {
    const store = join(tmp, 'store');
    const r = await gantry(['build', site, '-t', 'site:dev'], { store });
    assert.equal(r.code, 0, r.stderr);
    const images = await gantry(['images'], { store });
    assert.match(images.stdout, /^site\s+dev\s+[0-9a-f]{12}\s+linux\/amd64/m);
    const config = JSON.parse(
      await tool('skopeo', ['inspect', '--config', `oci:${store}:docker.io/library/site:dev`]),
    ) as {
      config: {
        WorkingDir: string;
        Cmd: string[];
        ExposedPorts: Record<string, unknown>;
        Labels: Record<string, string>;
      };
    };
    assert.equal(config.config.WorkingDir, '/srv/www');
    assert.deepEqual(config.config.Cmd, ['/srv/www/index.html']);
    assert.deepEqual(Object.keys(config.config.ExposedPorts), ['8080/tcp']);
    assert.equal(config.config.Labels['org.opencontainers.image.title'], 'gantry example site');
    const out = join(tmp, 'rootfs');
    const x = await gantry(['build', site, '-o', `type=local,dest=${out}`, '--build-arg', 'TITLE=custom'], { store });
    assert.equal(x.code, 0, x.stderr);
    assert.equal(
      await readFile(join(out, 'srv', 'www', 'index.html'), 'utf8'),
      await readFile(join(site, 'public', 'index.html'), 'utf8'),
    );
    assert.match(await readFile(join(out, 'srv', 'www', 'about.txt'), 'utf8'), /^custom: built by gantry/);
    // A global ARG default loses its quotes, as in BuildKit (regression: it kept them).
    const y = await gantry(['build', site, '-o', `type=local,dest=${join(tmp, 'r2')}`], { store });
    assert.equal(y.code, 0, y.stderr);
    assert.match(await readFile(join(tmp, 'r2', 'srv', 'www', 'about.txt'), 'utf8'), /^gantry example: built/);
  });
});

// Issue 7: the README's quick start on a fresh Debian machine, simulated by a PATH without the
// packages the test suite installs (attr, bubblewrap, skopeo, ...): it used to stop at the first
// COPY --from with "snapshots need getfattr". The image must be the one a full machine builds.
test('the quick start works on a fresh machine PATH (no attr, no bubblewrap) and builds the same image', async () => {
  await withTempDir(async (tmp) => {
    const fresh = join(tmp, 'fresh-store');
    const full = join(tmp, 'full-store');
    const env = { PATH: await freshPath() };
    const r = await gantry(['build', 'examples/site', '-t', 'site:dev'], { store: fresh, env });
    assert.equal(r.code, 0, r.stderr);
    const images = await gantry(['images'], { store: fresh, env });
    assert.equal(images.code, 0, images.stderr);
    assert.match(images.stdout, /^site\s+dev\s+[0-9a-f]{12}\s+linux\/amd64/m);
    const f = await gantry(['build', 'examples/site', '-t', 'site:dev'], { store: full });
    assert.equal(f.code, 0, f.stderr);
    const digest = async (store: string) =>
      (await gantry(['images', '--digests'], { store })).stdout.match(/sha256:[0-9a-f]{64}/)?.[0];
    assert.ok(await digest(fresh));
    assert.equal(await digest(fresh), await digest(full), 'same image with and without the optional packages');
    // Read back by an independent tool (from the full PATH): the files are where the Dockerfile puts them.
    const out = join(tmp, 'rootfs');
    const x = await gantry(['build', 'examples/site', '-o', `type=local,dest=${out}`], { store: fresh, env });
    assert.equal(x.code, 0, x.stderr);
    assert.match(await readFile(join(out, 'srv', 'www', 'about.txt'), 'utf8'), /^gantry example: built by gantry/);
    const config = JSON.parse(
      await tool('skopeo', ['inspect', '--config', `oci:${fresh}:docker.io/library/site:dev`]),
    ) as { config: { WorkingDir: string } };
    assert.equal(config.config.WorkingDir, '/srv/www');
  });
});
