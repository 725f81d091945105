// The SBOM of an image, read from the image's own package databases: the Debian fixture (dpkg
// status, checked against GNU tar's copy of the file), and a layered image made by the system tar
// with distroless status.d, apk, Python and npm databases, whiteouts and an opaque directory.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { digestOf } from '../../src/oci/digest.js';
import type { BlobSource } from '../../src/oci/image.js';
import { OciLayout } from '../../src/oci/layout.js';
import { imageFromManifest } from '../../src/oci/partial.js';
import { MediaType } from '../../src/oci/types.js';
import { imageSbom } from '../../src/sbom/index.js';
import { debianImage } from '../harness/debian.js';
import { makeTarLayer } from '../oci/fixtures.js';

interface CdxComponent {
  type: string;
  name: string;
  version?: string;
  purl?: string;
  hashes?: { alg: string; content: string }[];
  licenses?: { license?: { name?: string; id?: string }; expression?: string }[];
  components?: CdxComponent[];
  properties?: { name: string; value: string }[];
}

/** An image over in-memory layers (each a tar made by the system tar). */
function memoryImage(layers: readonly Record<string, string | Buffer>[], opened: string[] = []) {
  const blobs = new Map<string, Buffer>();
  const put = (b: Buffer) => {
    const d = digestOf(b);
    blobs.set(d, b);
    return { digest: d, size: b.length };
  };
  const tars = layers.map((files) => makeTarLayer(files));
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      created: '2024-01-02T03:04:05Z',
      rootfs: { type: 'layers', diff_ids: tars.map((t) => digestOf(t.tar)) },
      config: {},
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, ...put(config) },
      layers: tars.map((t) => ({ mediaType: MediaType.OciLayerGzip, ...put(t.gz) })),
    }),
  );
  const source: BlobSource = {
    openBlob: async (desc) => {
      opened.push(desc.digest);
      return Readable.from([blobs.get(desc.digest) as Buffer]);
    },
  };
  return imageFromManifest(source, manifest);
}

test('the Debian fixture: every installed dpkg package is listed with a deb purl, as GNU tar reads the status file', {
  timeout: 300_000,
}, async () => {
  const fixture = await debianImage();
  const layout = await OciLayout.open(fixture.layoutDir);
  const desc = (await layout.readIndex()).manifests[0];
  assert.ok(desc);
  const image = await layout.image(desc);
  const sbom = await imageSbom(image, { name: 'debian:fixture' });
  assert.equal(sbom.mediaType, 'application/vnd.cyclonedx+json');
  const doc = JSON.parse(sbom.bytes.toString('utf8')) as {
    bomFormat: string;
    specVersion: string;
    metadata: { component: { type: string; version: string } };
    components: CdxComponent[];
  };
  assert.equal(doc.bomFormat, 'CycloneDX');
  assert.equal(doc.specVersion, '1.6');
  assert.equal(doc.metadata.component.type, 'container');
  assert.equal(doc.metadata.component.version, desc.digest);
  // The status file as GNU tar extracts it from the layer blob, parsed by grep-like code here.
  const layer = (await image.manifest()).layers[0];
  assert.ok(layer);
  const status = execFileSync('tar', ['-xzOf', layout.blobPath(layer.digest), 'var/lib/dpkg/status'], {
    maxBuffer: 64 * 1024 * 1024,
  }).toString('utf8');
  const installed = status
    .split('\n\n')
    .filter((s) => /^Status: install ok installed$/m.test(s))
    .map((s) => /^Package: (.+)$/m.exec(s)?.[1])
    .filter((n): n is string => n !== undefined)
    .sort();
  assert.ok(installed.length > 50, `a minbase has many packages (${installed.length})`);
  const debs = doc.components.filter((c) => c.purl?.startsWith('pkg:deb/debian/'));
  assert.deepEqual(debs.map((c) => c.name).sort(), installed);
  const bash = debs.find((c) => c.name === 'bash');
  assert.match(bash?.purl ?? '', /^pkg:deb\/debian\/bash@[^?]+\?arch=amd64&distro=debian-12/);
  assert.ok(doc.components.some((c) => c.type === 'operating-system' && c.name === 'debian'));

  const spdx = JSON.parse((await imageSbom(image, { format: 'spdx' })).bytes.toString('utf8')) as {
    spdxVersion: string;
    packages: { name: string; SPDXID: string }[];
    relationships: { relationshipType: string }[];
  };
  assert.equal(spdx.spdxVersion, 'SPDX-2.3');
  assert.ok(spdx.packages.some((p) => p.name === 'bash'));
  assert.equal(spdx.relationships.filter((r) => r.relationshipType === 'CONTAINS').length, installed.length + 1);
});

test('status.d, apk, Python and npm databases are read through whiteouts and opaque directories', async () => {
  const record = 'demo/__init__.py,sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU,0\ndemo-1.2.dist-info/RECORD,,\n';
  const image = memoryImage([
    {
      'usr/lib/os-release': 'ID=alpine\nVERSION_ID=3.20.0\nPRETTY_NAME="Alpine Linux v3.20"\n',
      'lib/apk/db/installed':
        'C:Q1hdUpqRv5mYgJEqW52UmVsvmyysE=\nP:musl\nV:1.2.5-r0\nA:x86_64\nL:MIT\n\nP:gone\nV:1\nA:x86_64\n\n',
      'var/lib/dpkg/status.d/base-files': 'Package: base-files\nVersion: 12.4\nArchitecture: amd64\n',
      'var/lib/dpkg/status.d/base-files.md5sums': 'ignored\n',
      'usr/lib/python3/site-packages/demo-1.2.dist-info/METADATA':
        'Metadata-Version: 2.1\nName: Demo_Pkg\nVersion: 1.2\nLicense-Expression: MIT\n\nLong description\nName: not-this\n',
      'usr/lib/python3/site-packages/demo-1.2.dist-info/RECORD': record,
      'usr/lib/python3/site-packages/old.egg-info/PKG-INFO': 'Name: old\nVersion: 0.1\nLicense: BSD\n',
      'app/node_modules/left-pad/package.json': '{"name":"left-pad","version":"1.3.0","license":"WTFPL"}',
      'app/node_modules/left-pad/lib/package.json': '{"name":"not-a-package","version":"9"}',
      'app/node_modules/@scope/util/package.json': '{"name":"@scope/util","version":"2.0.0"}',
      'app/node_modules/.package-lock.json': JSON.stringify({
        lockfileVersion: 3,
        packages: { 'node_modules/left-pad': { integrity: `sha512-${Buffer.alloc(64, 1).toString('base64')}` } },
      }),
      'old/node_modules/x/package.json': '{"name":"x","version":"1.0.0"}',
    },
    {
      // The second layer deletes the scoped package, makes old/ opaque and replaces musl's db.
      'app/node_modules/@scope/.wh.util': '',
      'old/.wh..wh..opq': '',
      'old/keep': 'new',
      'lib/apk/db/installed': 'P:musl\nV:1.2.5-r1\nA:x86_64\nL:MIT\n\n',
    },
  ]);
  const sbom = await imageSbom(image, { name: 'demo:1' });
  const doc = JSON.parse(sbom.bytes.toString('utf8')) as {
    metadata: { timestamp: string };
    components: CdxComponent[];
  };
  assert.equal(doc.metadata.timestamp, '2024-01-02T03:04:05.000Z', "the image's created time, not now");
  const purls = doc.components.map((c) => c.purl).filter((p): p is string => p !== undefined);
  assert.deepEqual(purls.sort(), [
    'pkg:apk/alpine/musl@1.2.5-r1?arch=x86_64&distro=alpine-3.20.0',
    'pkg:deb/alpine/base-files@12.4?arch=amd64&distro=alpine-3.20.0',
    'pkg:npm/left-pad@1.3.0',
    'pkg:pypi/demo-pkg@1.2',
    'pkg:pypi/old@0.1',
  ]);
  const leftPad = doc.components.find((c) => c.name === 'left-pad');
  assert.deepEqual(leftPad?.hashes, [{ alg: 'SHA-512', content: '01'.repeat(64) }]);
  const demo = doc.components.find((c) => c.name === 'Demo_Pkg');
  assert.deepEqual(demo?.licenses, [{ expression: 'MIT' }]);
  assert.deepEqual(
    demo?.components?.map((f) => [f.name, f.hashes?.[0]?.content]),
    [
      [
        'usr/lib/python3/site-packages/demo/__init__.py',
        'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      ],
    ],
  );
  // Same image, same document.
  assert.equal((await imageSbom(image, { name: 'demo:1' })).bytes.toString(), sbom.bytes.toString());
});

test("the SBOM cache: a base's layers are read once per store, and what is restored equals a full read", async () => {
  const { mkdtemp, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = await mkdtemp(join(tmpdir(), 'gantry-sbom-cache-'));
  try {
    const baseLayer = {
      'etc/os-release': 'ID=alpine\nVERSION_ID=3.20.0\n',
      'lib/apk/db/installed': 'P:musl\nV:1.2.5-r0\nA:x86_64\n\n',
      'app/node_modules/gone/package.json': '{"name":"gone","version":"1.0.0"}',
    };
    const base = memoryImage([baseLayer]);
    const appA = memoryImage([baseLayer, { 'app/node_modules/a/package.json': '{"name":"a","version":"1.0.0"}' }]);
    // B's own layer deletes a package of the base: the restored state must see the whiteout.
    const appB = memoryImage([baseLayer, { 'app/node_modules/.wh.gone': '', 'x.txt': 'x' }]);
    const reads: string[] = [];
    const make = (image: typeof base) =>
      imageSbom(image, {
        name: 'app:1',
        bases: [{ name: 'base:1', image: base }],
        cacheDir: dir,
        onRead: (read, total) => reads.push(`${read}/${total}`),
      });
    const a = await make(appA);
    const b = await make(appB);
    const again = await make(appB);
    assert.deepEqual(reads, ['2/2', '1/2', '1/2'], 'after the first, only the layer above the base is read');
    for (const [cached, image] of [
      [a, appA],
      [b, appB],
      [again, appB],
    ] as const) {
      const full = await imageSbom(image, { name: 'app:1', bases: [{ name: 'base:1', image: base }] });
      assert.equal(cached.bytes.toString(), full.bytes.toString());
    }
    assert.ok(!b.catalog.packages.some((p) => p.name === 'gone'));
    assert.ok(b.catalog.packages.some((p) => p.name === 'musl'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('an SBOM on a base whose layers may not be read: the base SBOM gives its packages minus what the layers above replace or remove; without one the base is marked unknown and nothing is downloaded', async () => {
  const baseLayer = {
    'etc/os-release': 'ID=alpine\nVERSION_ID=3.20.0\n',
    'lib/apk/db/installed': 'P:musl\nV:1.2.5-r0\nA:x86_64\n\n',
    'app/node_modules/gone/package.json': '{"name":"gone","version":"1.0.0"}',
  };
  const base = memoryImage([baseLayer]);
  const baseLayerDigest = (await base.manifest()).layers[0]?.digest as string;
  const ownSbom = await imageSbom(base, { name: 'base:1' });
  const doc = { digest: 'sha256:'.padEnd(71, '1'), bytes: ownSbom.bytes };
  // A third party's SBOM: the same packages, no paths.
  const pathless = JSON.parse(ownSbom.bytes.toString('utf8')) as { components: CdxComponent[] };
  for (const c of pathless.components)
    c.properties = c.properties?.filter((p) => !p.name.startsWith('gantry:location'));
  const thirdParty = { digest: doc.digest, bytes: Buffer.from(JSON.stringify(pathless)) };
  const apps = {
    adds: memoryImage([baseLayer, { 'app/node_modules/a/package.json': '{"name":"a","version":"1.0.0"}' }]),
    removes: memoryImage([baseLayer, { 'app/node_modules/.wh.gone': '' }]),
    rewritesApk: memoryImage([
      baseLayer,
      { 'lib/apk/db/installed': 'P:musl\nV:1.2.5-r1\nA:x86_64\n\nP:busybox\nV:1.36.1-r29\nA:x86_64\n\n' },
    ]),
  };
  const purls = (s: Awaited<ReturnType<typeof imageSbom>>) => s.catalog.packages.map((p) => p.purl).sort();
  for (const [what, image] of Object.entries(apps)) {
    for (const given of [doc, thirdParty]) {
      const asked: string[] = [];
      const seeded = await imageSbom(image, {
        name: 'app:1',
        bases: [{ name: 'base:1', image: base }],
        readable: async (d) => d.digest !== baseLayerDigest,
        baseSbom: async (b) => {
          asked.push(b.digest);
          return given;
        },
      });
      const full = await imageSbom(image, { name: 'app:1', bases: [{ name: 'base:1', image: base }] });
      const note = `${what}, ${given === doc ? "gantry's" : 'a third-party'} SBOM`;
      assert.deepEqual(asked, [await base.digest()], note);
      if (given === thirdParty && what === 'removes') {
        // Without paths, a removed npm package of the base cannot be told: the known limit.
        assert.deepEqual(purls(seeded), [...purls(full), 'pkg:npm/gone@1.0.0'].sort(), note);
      } else assert.deepEqual(purls(seeded), purls(full), note);
      assert.equal(seeded.subject.base?.sbom, doc.digest, note);
      assert.equal(seeded.subject.incomplete, undefined, note);
    }
  }
  // No SBOM of the base: its layer is not read, and the document says its contents are unknown.
  const opened: string[] = [];
  const app = memoryImage([baseLayer, { 'app/node_modules/a/package.json': '{"name":"a","version":"1.0.0"}' }], opened);
  const unknown = await imageSbom(app, {
    name: 'app:1',
    bases: [{ name: 'base:1', image: base }],
    readable: async (d) => d.digest !== baseLayerDigest,
    baseSbom: async () => undefined,
  });
  assert.deepEqual(
    unknown.catalog.packages.map((p) => p.name),
    ['a'],
  );
  assert.ok(!opened.includes(baseLayerDigest), 'the base layer was not opened');
  assert.ok(opened.includes((await app.manifest()).layers[1]?.digest as string), 'the layer above the base was');
  const cdx = JSON.parse(unknown.bytes.toString('utf8')) as {
    compositions?: { aggregate: string; assemblies: string[] }[];
  };
  assert.deepEqual(cdx.compositions, [
    { aggregate: 'incomplete', assemblies: [`image:${await app.digest()}`] },
    { aggregate: 'unknown', assemblies: [`base:${await base.digest()}`] },
  ]);
});

/**
 * An executable with Go build info as Go 1.18+ writes it: the `.go.buildinfo` bytes (magic, pointer
 * size, flags with the inline-strings bit, then the varint-prefixed version and module info between
 * Go's sentinels), 16-aligned inside an ELF file. Hand-made: only the ELF magic of the header, as
 * the reader looks at nothing else of the ELF structure.
 */
function goExecutable(modinfo: string, flags = 2): Buffer {
  const varint = (n: number) => {
    const out: number[] = [];
    for (; n >= 0x80; n >>>= 7) out.push((n & 0x7f) | 0x80);
    out.push(n);
    return Buffer.from(out);
  };
  const mod = Buffer.concat([
    Buffer.from('3077af0c9274080241e1c107e6d618e6', 'hex'),
    Buffer.from(modinfo),
    Buffer.from('f932433186182072008242104116d8f2', 'hex'),
  ]);
  const header = Buffer.alloc(32);
  header.write('\xff Go buildinf:', 'latin1');
  header[14] = 8;
  header[15] = flags;
  const version = Buffer.from('go1.19.8');
  const head = Buffer.alloc(200_000, 0x90);
  head.write('\x7fELF', 'latin1');
  return Buffer.concat([head, header, varint(version.length), version, varint(mod.length), mod, Buffer.alloc(5000)]);
}

test('Go executables under bin directories: module, dependencies (as replaced) and Go version from .go.buildinfo; scripts and pre-1.18 binaries are skipped', async () => {
  const h1 = Buffer.from('ab'.repeat(32), 'hex').toString('base64');
  const modinfo = [
    'path\texample.com/hello',
    'mod\texample.com/hello\t(devel)\t',
    `dep\tgolang.org/x/text\tv0.14.0\th1:${h1}`,
    'dep\tgithub.com/old/mod\tv1.0.0\th1:x',
    '=>\tgithub.com/new/mod\tv1.2.0\t',
    'build\t-compiler=gc',
    '',
  ].join('\n');
  const image = memoryImage([
    {
      'usr/local/bin/hello': goExecutable(modinfo),
      'usr/bin/old': goExecutable(modinfo, 0),
      'usr/bin/script': '#!/bin/sh\necho \xff Go buildinf:\n',
      'opt/app/not-a-bin-dir': goExecutable(modinfo),
    },
  ]);
  const sbom = await imageSbom(image, { name: 'go:1' });
  const golang = sbom.catalog.packages.filter((p) => p.ecosystem === 'golang');
  assert.deepEqual(golang.map((p) => [p.purl, p.foundIn]).sort(), [
    ['pkg:golang/example.com/hello@(devel)', 'usr/local/bin/hello'],
    ['pkg:golang/github.com/new/mod@v1.2.0', 'usr/local/bin/hello'],
    ['pkg:golang/golang.org/x/text@v0.14.0', 'usr/local/bin/hello'],
    ['pkg:golang/stdlib@1.19.8', 'usr/local/bin/hello'],
  ]);
  assert.deepEqual(golang.find((p) => p.name === 'golang.org/x/text')?.hashes, [
    { alg: 'SHA-256', content: 'ab'.repeat(32) },
  ]);
  // A layer above that deletes the binary takes its modules with it.
  const removed = memoryImage([{ 'usr/local/bin/hello': goExecutable(modinfo) }, { 'usr/local/bin/.wh.hello': '' }]);
  assert.deepEqual((await imageSbom(removed)).catalog.packages, []);
});
