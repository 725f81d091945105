// The busybox fixture (a real multi-platform image from Debian's busybox-static) used as a base:
// loaded into the store, built upon per platform, and pushed from the store to a real registry.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { busyboxImage } from '../harness/fixtures.js';
import { startRegistry } from '../harness/registry.js';
import { gantry, repoRoot, tool, withTempDir } from './helpers.js';

const example = join(repoRoot, 'examples', 'hello');

function blob(layout: string, digest: string): Promise<string> {
  return readFile(join(layout, 'blobs', 'sha256', digest.replace(/^sha256:/, '')), 'utf8');
}

test('a multi-platform base from the store: each platform builds on its own base image', async () => {
  const fixture = await busyboxImage();
  await withTempDir(async (tmp) => {
    const store = join(tmp, 'store');
    const loaded = await gantry(['load', fixture.layoutDir, '-t', 'busybox:fixture'], { store });
    assert.equal(loaded.code, 0, loaded.stderr);
    const images = await gantry(['images'], { store });
    assert.match(images.stdout, /^busybox\s+fixture\s+\S+\s+linux\/amd64,linux\/arm64/m);

    const r = await gantry(
      [
        'build',
        example,
        '--from',
        'busybox:fixture',
        '--platform',
        'linux/amd64,linux/arm64',
        '--workdir',
        '/www',
        '-t',
        'site:1',
      ],
      { store },
    );
    assert.equal(r.code, 0, r.stderr);
    for (const [arch, base] of [
      ['amd64', fixture.manifests[0]],
      ['arm64', fixture.manifests[1]],
    ] as const) {
      const config = JSON.parse(
        await tool('skopeo', ['inspect', '--config', '--override-arch', arch, `oci:${store}:docker.io/library/site:1`]),
      ) as { architecture: string; config: { Cmd: string[]; WorkingDir: string }; rootfs: { diff_ids: string[] } };
      assert.equal(config.architecture, arch);
      assert.deepEqual(config.config.Cmd, ['sh']);
      assert.equal(config.config.WorkingDir, '/www');
      assert.equal(config.rootfs.diff_ids.length, 2);
      const baseManifest = JSON.parse(await blob(fixture.layoutDir, base?.digest ?? '')) as {
        layers: { digest: string }[];
      };
      const built = JSON.parse(
        await tool('skopeo', ['inspect', '--raw', '--override-arch', arch, `oci:${store}:docker.io/library/site:1`]),
      ) as { manifests?: { digest: string; platform: { architecture: string } }[] };
      const child = built.manifests?.find((m) => m.platform.architecture === arch);
      assert.ok(child, 'the build is an index with this platform');
      const childManifest = JSON.parse(await blob(store, child.digest)) as {
        layers: { digest: string }[];
      };
      assert.equal(childManifest.layers[0]?.digest, baseManifest.layers[0]?.digest, 'the base layer is reused as is');
    }

    // A single-platform build from the index picks that platform's base.
    const arm = await gantry(
      ['build', example, '--from', 'busybox:fixture', '--platform', 'linux/arm64', '-t', 'site:arm'],
      { store },
    );
    assert.equal(arm.code, 0, arm.stderr);
    const cfg = JSON.parse(
      await tool('skopeo', ['inspect', '--config', `oci:${store}:docker.io/library/site:arm`]),
    ) as {
      architecture: string;
    };
    assert.equal(cfg.architecture, 'arm64');

    // A platform the base does not have is refused with the platforms it does have.
    const bad = await gantry(['build', example, '--from', 'busybox:fixture', '--platform', 'linux/s390x'], { store });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /linux\/amd64/);
    assert.match(bad.stderr, /linux\/arm64/);

    // What the store holds is pushable to a real registry as it is.
    const registry = await startRegistry({ mode: 'http' });
    try {
      await tool('skopeo', [
        'copy',
        '--all',
        '--dest-tls-verify=false',
        `oci:${store}:docker.io/library/site:1`,
        `docker://${registry.host}/site:1`,
      ]);
      const raw = JSON.parse(
        await tool('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/site:1`]),
      ) as {
        manifests: unknown[];
      };
      assert.equal(raw.manifests.length, 2);
    } finally {
      await registry.stop();
    }
  });
});

test('--progress=json prints one JSON event per line', async () => {
  await withTempDir(async (tmp) => {
    const r = await gantry(['build', example, '-t', 'p:1', '--progress=json'], { store: join(tmp, 'store') });
    assert.equal(r.code, 0, r.stderr);
    const events = r.stderr
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; id: string; name?: string; time: string });
    assert.ok(events.length >= 4);
    // The directory's layer is a solver step: its id comes from its cache key.
    const layer = events.find((e) => e.type === 'start' && e.name?.startsWith('COPY '));
    assert.match(layer?.id ?? '', /^step-[0-9a-f]{16}$/);
    assert.ok(events.some((e) => e.type === 'done' && e.id === layer?.id));
    for (const e of events) assert.ok(!Number.isNaN(Date.parse(e.time)));
  });
});
