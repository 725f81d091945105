// A base image written by another tool: Debian's umoci (`umoci insert --image L:T DIR /`) writes
// a layer whose first entry is named "/" and whose tar stream stops right after the last file's
// data, without its padding or the end-of-archive blocks. gantry refused it ("refusing "/":
// absolute path"); containerd, docker, buildah and GNU tar accept it. The base also carries what
// an untrusted image may carry (a setuid file, a device node): the built image keeps both.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { readTar, type TarEntry } from '../../src/layer/index.js';
import { busyboxRootfs } from '../harness/fixtures.js';
import { bufferStream } from '../layer/helpers.js';
import { gantry, tool, withTempDir } from './helpers.js';

const isRoot = process.getuid?.() === 0;

async function layerEntries(store: string, ref: string): Promise<TarEntry[][]> {
  let manifest = JSON.parse(await tool('skopeo', ['inspect', '--raw', `oci:${store}:${ref}`])) as {
    manifests?: { digest: string }[];
    layers?: { digest: string }[];
  };
  const blob = (digest: string) => readFile(join(store, 'blobs', ...digest.split(':')));
  if (manifest.manifests) manifest = JSON.parse((await blob(manifest.manifests[0]?.digest ?? '')).toString());
  const out: TarEntry[][] = [];
  for (const layer of manifest.layers ?? []) {
    const entries: TarEntry[] = [];
    for await (const { entry } of readTar(bufferStream(gunzipSync(await blob(layer.digest))))) entries.push(entry);
    out.push(entries);
  }
  return out;
}

test('a base made by umoci insert DIR / builds with COPY and RUN on top', async () => {
  await withTempDir(async (tmp) => {
    const rootfs = join(tmp, 'rootfs');
    await tool('cp', ['-a', `${await busyboxRootfs('amd64')}/.`, rootfs]);
    await writeFile(join(rootfs, 'suidprobe'), '#!/bin/sh\nid\n');
    await tool('chmod', ['4755', join(rootfs, 'suidprobe')]);
    if (isRoot) await tool('mknod', ['-m', '0666', join(rootfs, 'devprobe'), 'c', '1', '3']);
    const layout = join(tmp, 'oci');
    await tool('umoci', ['init', '--layout', layout]);
    await tool('umoci', ['new', '--image', `${layout}:base`]);
    await tool('umoci', ['insert', '--image', `${layout}:base`, rootfs, '/']);
    const [base] = await layerEntries(layout, 'base');
    assert.equal(base?.[0]?.path, '/', 'umoci still writes a root entry named "/"');

    const store = join(tmp, 'store');
    const loaded = await gantry(['load', layout, '-t', 'umoci:base'], { store });
    assert.equal(loaded.code, 0, loaded.stderr);
    const ctx = join(tmp, 'ctx');
    await tool('mkdir', ['-p', ctx]);
    await writeFile(join(ctx, 'hello.txt'), 'hello from the context\n');
    await writeFile(
      join(ctx, 'Dockerfile'),
      [
        'FROM umoci:base',
        'COPY hello.txt /srv/hello.txt',
        `RUN cat /srv/hello.txt && touch /suidprobe${isRoot ? ' && chmod 0600 /devprobe' : ''}`,
      ].join('\n'),
    );
    const built = await gantry(['build', ctx, '-t', 'out:1', '--progress=plain'], { store });
    assert.equal(built.code, 0, built.stderr);
    assert.match(built.stderr, /hello from the context/);

    const layers = await layerEntries(store, 'docker.io/library/out:1');
    assert.equal(layers.length, 3, 'the umoci layer, COPY and RUN');
    const runLayer = layers[2] ?? [];
    const probe = runLayer.find((e) => e.path === 'suidprobe');
    assert.equal(probe?.mode, 0o4755, 'suidprobe is still setuid in the built image');
    if (isRoot) {
      const dev = runLayer.find((e) => e.path === 'devprobe');
      assert.deepEqual(
        dev && { type: dev.type, mode: dev.mode, devmajor: dev.devmajor, devminor: dev.devminor },
        { type: 'char', mode: 0o600, devmajor: 1, devminor: 3 },
        'the device from the base is a device entry in the layer',
      );
    }
  });
});
