// Validation of manifests, indexes and configs read from outside: a table of good and bad
// documents, each bad one pinned to its error code.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GantryError } from '../../src/errors.js';
import { digestOf } from '../../src/oci/digest.js';
import {
  descriptorOf,
  isIndexMediaType,
  isLayerMediaType,
  isManifestMediaType,
  parseImageConfig,
  parseIndex,
  parseManifest,
  sniffManifestKind,
} from '../../src/oci/parse.js';
import { MediaType } from '../../src/oci/types.js';

const D1 = digestOf('config');
const D2 = digestOf('layer');

const manifest = {
  schemaVersion: 2,
  mediaType: MediaType.OciManifest,
  config: { mediaType: MediaType.OciConfig, digest: D1, size: 6 },
  layers: [{ mediaType: MediaType.OciLayerGzip, digest: D2, size: 5 }],
};
const index = {
  schemaVersion: 2,
  mediaType: MediaType.OciIndex,
  manifests: [
    {
      mediaType: MediaType.OciManifest,
      digest: D1,
      size: 100,
      platform: { architecture: 'amd64', os: 'linux' },
    },
  ],
};
const config = {
  architecture: 'amd64',
  os: 'linux',
  config: { Env: ['PATH=/bin'], Cmd: ['sh'], Entrypoint: null },
  rootfs: { type: 'layers', diff_ids: [D2] },
  history: [{ created_by: 'x' }],
};

const bytes = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v));
const codeOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    return GantryError.is(e) ? e.code : `not a GantryError: ${String(e)}`;
  }
  return 'no error';
};

test('good manifests parse, with or without mediaType, and keep unknown fields', () => {
  const m = parseManifest(bytes(manifest));
  assert.equal(m.layers.length, 1);
  const { mediaType: _, ...bare } = manifest;
  assert.equal(parseManifest(bytes(bare)).config.digest, D1);
  const docker = {
    ...manifest,
    mediaType: MediaType.DockerManifest,
    config: { ...manifest.config, mediaType: MediaType.DockerConfig },
  };
  assert.equal(
    parseManifest(bytes(docker), { mediaType: MediaType.DockerManifest }).mediaType,
    MediaType.DockerManifest,
  );
  const b = bytes(manifest);
  assert.ok(parseManifest(b, { mediaType: MediaType.OciManifest, digest: digestOf(b), size: b.length }));
  const withData = {
    ...manifest,
    config: {
      mediaType: MediaType.OciEmpty,
      digest: digestOf('{}'),
      size: 2,
      data: Buffer.from('{}').toString('base64'),
    },
  };
  assert.ok(parseManifest(bytes(withData)));
});

test('bad manifests fail with the right code', () => {
  const b = bytes(manifest);
  const table: [string, () => unknown, string][] = [
    ['malformed JSON', () => parseManifest(bytes('{"schemaVersion":2,')), 'MALFORMED_JSON'],
    ['JSON array', () => parseManifest(bytes('[]')), 'MALFORMED_JSON'],
    ['size mismatch', () => parseManifest(b, { size: b.length + 1 }), 'SIZE_MISMATCH'],
    ['digest mismatch', () => parseManifest(b, { digest: digestOf('other') }), 'DIGEST_MISMATCH'],
    ['an index where a manifest is wanted', () => parseManifest(bytes(index)), 'WRONG_MEDIA_TYPE'],
    ['descriptor says index', () => parseManifest(b, { mediaType: MediaType.OciIndex }), 'WRONG_MEDIA_TYPE'],
    [
      'descriptor says docker, document says oci',
      () => parseManifest(b, { mediaType: MediaType.DockerManifest }),
      'WRONG_MEDIA_TYPE',
    ],
    [
      'unknown mediaType',
      () => parseManifest(bytes({ ...manifest, mediaType: 'text/plain' })),
      'UNSUPPORTED_MEDIA_TYPE',
    ],
    ['schema 1', () => parseManifest(bytes({ schemaVersion: 1, name: 'x', fsLayers: [] })), 'UNSUPPORTED_MEDIA_TYPE'],
    ['schemaVersion 3', () => parseManifest(bytes({ ...manifest, schemaVersion: 3 })), 'INVALID_MANIFEST'],
    ['missing config', () => parseManifest(bytes({ ...manifest, config: undefined })), 'INVALID_MANIFEST'],
    ['layers not an array', () => parseManifest(bytes({ ...manifest, layers: {} })), 'INVALID_MANIFEST'],
    [
      'bad layer digest',
      () => parseManifest(bytes({ ...manifest, layers: [{ ...manifest.layers[0], digest: 'sha256:../../x' }] })),
      'INVALID_MANIFEST',
    ],
    [
      'negative size',
      () => parseManifest(bytes({ ...manifest, layers: [{ ...manifest.layers[0], size: -1 }] })),
      'INVALID_MANIFEST',
    ],
    [
      'missing layer mediaType',
      () => parseManifest(bytes({ ...manifest, layers: [{ digest: D2, size: 5 }] })),
      'INVALID_MANIFEST',
    ],
    ['annotations not strings', () => parseManifest(bytes({ ...manifest, annotations: { a: 1 } })), 'INVALID_MANIFEST'],
    [
      'embedded data that lies',
      () =>
        parseManifest(
          bytes({ ...manifest, config: { ...manifest.config, data: Buffer.from('nope!!').toString('base64') } }),
        ),
      'INVALID_MANIFEST',
    ],
    [
      'docker manifest without mediaType',
      () => {
        const { mediaType: _, ...bare } = manifest;
        return parseManifest(bytes(bare), { mediaType: MediaType.DockerManifest });
      },
      'INVALID_MANIFEST',
    ],
  ];
  for (const [name, fn, code] of table) assert.equal(codeOf(fn), code, name);
});

test('good indexes parse; bad ones fail with the right code', () => {
  assert.equal(parseIndex(bytes(index)).manifests.length, 1);
  assert.equal(parseIndex(bytes({ schemaVersion: 2, manifests: [] })).manifests.length, 0);
  const list = { ...index, mediaType: MediaType.DockerManifestList };
  assert.ok(parseIndex(bytes(list), { mediaType: MediaType.DockerManifestList }));
  const b = bytes(index);
  const table: [string, () => unknown, string][] = [
    ['malformed JSON', () => parseIndex(bytes('nope')), 'MALFORMED_JSON'],
    ['size mismatch', () => parseIndex(b, { size: 1 }), 'SIZE_MISMATCH'],
    ['digest mismatch', () => parseIndex(b, { digest: D1 }), 'DIGEST_MISMATCH'],
    ['a manifest where an index is wanted', () => parseIndex(bytes(manifest)), 'WRONG_MEDIA_TYPE'],
    ['descriptor says manifest', () => parseIndex(b, { mediaType: MediaType.OciManifest }), 'WRONG_MEDIA_TYPE'],
    ['unknown descriptor type', () => parseIndex(b, { mediaType: 'application/json' }), 'UNSUPPORTED_MEDIA_TYPE'],
    [
      'missing manifests',
      () => parseIndex(bytes({ schemaVersion: 2, mediaType: MediaType.OciIndex })),
      'INVALID_INDEX',
    ],
    [
      'platform without os',
      () =>
        parseIndex(bytes({ ...index, manifests: [{ ...index.manifests[0], platform: { architecture: 'amd64' } }] })),
      'INVALID_INDEX',
    ],
    ['bad schemaVersion', () => parseIndex(bytes({ ...index, schemaVersion: '2' })), 'INVALID_INDEX'],
  ];
  for (const [name, fn, code] of table) assert.equal(codeOf(fn), code, name);
});

test('good configs parse; bad ones fail with the right code', () => {
  assert.deepEqual(parseImageConfig(bytes(config)).rootfs.diff_ids, [D2]);
  const b = bytes(config);
  assert.ok(parseImageConfig(b, { digest: digestOf(b), size: b.length }));
  assert.ok(parseImageConfig(bytes({ ...config, config: null, history: null })), 'null sections are allowed');
  const table: [string, () => unknown, string][] = [
    ['malformed JSON', () => parseImageConfig(bytes('{')), 'MALFORMED_JSON'],
    ['size mismatch', () => parseImageConfig(b, { size: 3 }), 'SIZE_MISMATCH'],
    ['digest mismatch', () => parseImageConfig(b, { digest: D1 }), 'DIGEST_MISMATCH'],
    ['missing os', () => parseImageConfig(bytes({ ...config, os: undefined })), 'INVALID_CONFIG'],
    ['missing rootfs', () => parseImageConfig(bytes({ ...config, rootfs: undefined })), 'INVALID_CONFIG'],
    [
      'wrong rootfs type',
      () => parseImageConfig(bytes({ ...config, rootfs: { type: 'x', diff_ids: [] } })),
      'INVALID_CONFIG',
    ],
    [
      'bad diff_id',
      () => parseImageConfig(bytes({ ...config, rootfs: { type: 'layers', diff_ids: ['sha256:x'] } })),
      'INVALID_CONFIG',
    ],
    ['Env not strings', () => parseImageConfig(bytes({ ...config, config: { Env: 'A=1' } })), 'INVALID_CONFIG'],
    ['history not an array', () => parseImageConfig(bytes({ ...config, history: {} })), 'INVALID_CONFIG'],
  ];
  for (const [name, fn, code] of table) assert.equal(codeOf(fn), code, name);
});

test('sniffManifestKind uses mediaType, then shape', () => {
  assert.deepEqual(sniffManifestKind(bytes(manifest)), { kind: 'manifest', mediaType: MediaType.OciManifest });
  assert.deepEqual(sniffManifestKind(bytes(index)), { kind: 'index', mediaType: MediaType.OciIndex });
  assert.deepEqual(sniffManifestKind(bytes({ ...index, mediaType: MediaType.DockerManifestList })), {
    kind: 'index',
    mediaType: MediaType.DockerManifestList,
  });
  const { mediaType: _m, ...bareManifest } = manifest;
  const { mediaType: _i, ...bareIndex } = index;
  assert.equal(sniffManifestKind(bytes(bareManifest)).kind, 'manifest');
  assert.equal(sniffManifestKind(bytes(bareIndex)).kind, 'index');
  assert.equal(
    codeOf(() => sniffManifestKind(bytes({ schemaVersion: 2 }))),
    'INVALID_MANIFEST',
  );
  assert.equal(
    codeOf(() => sniffManifestKind(bytes('x'))),
    'MALFORMED_JSON',
  );
  assert.equal(
    codeOf(() => sniffManifestKind(bytes({ mediaType: 'text/html' }))),
    'UNSUPPORTED_MEDIA_TYPE',
  );
});

test('media type predicates and descriptorOf', () => {
  assert.ok(isManifestMediaType(MediaType.DockerManifest) && isManifestMediaType(MediaType.OciManifest));
  assert.ok(!isManifestMediaType(MediaType.OciIndex));
  assert.ok(isIndexMediaType(MediaType.DockerManifestList) && isIndexMediaType(MediaType.OciIndex));
  assert.ok(!isIndexMediaType(MediaType.OciManifest));
  for (const mt of [MediaType.OciLayer, MediaType.OciLayerGzip, MediaType.OciLayerZstd, MediaType.DockerLayerGzip]) {
    assert.ok(isLayerMediaType(mt), mt);
  }
  assert.ok(!isLayerMediaType(MediaType.OciConfig));
  const d = descriptorOf(Buffer.from('abc'), MediaType.OciConfig, {
    annotations: { a: 'b' },
    digest: 'sha256:ignored',
  });
  assert.deepEqual(d, {
    mediaType: MediaType.OciConfig,
    digest: 'sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    size: 3,
    annotations: { a: 'b' },
  });
});
