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
function memoryImage(layers: readonly Record<string, string>[]) {
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
    openBlob: async (desc) => Readable.from([blobs.get(desc.digest) as Buffer]),
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
