// The README's quick start: the bundled Dockerfile example builds, lists, and holds what it says.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
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
