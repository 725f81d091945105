// Fuzz target: the manifest, index and config parsers (src/oci/parse.ts). Inputs are arbitrary
// JSON values, valid documents with fields replaced by arbitrary values, and random bytes. Each
// parser must return a document or throw a GantryError; never another exception, never a hang.
import { test } from 'node:test';
import fc from 'fast-check';
import { parseImageConfig, parseIndex, parseManifest, sniffManifestKind } from '../../src/oci/parse.js';
import { assertGantryError, FUZZ_TIMEOUT_MS, fuzz } from './harness.js';

const D = `sha256:${'a'.repeat(64)}`;
const manifest = {
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: D, size: 2 },
  layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: D, size: 3 }],
  annotations: { a: 'b' },
};
const index = {
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.index.v1+json',
  manifests: [{ mediaType: manifest.mediaType, digest: D, size: 7, platform: { os: 'linux', architecture: 'amd64' } }],
};
const config = {
  architecture: 'amd64',
  os: 'linux',
  config: { Env: ['A=1'], Cmd: ['sh'] },
  rootfs: { type: 'layers', diff_ids: [D] },
  history: [{ created_by: 'x' }],
};

/** `doc` with the value at a random path (one of its keys, at some depth) replaced. */
function replaced(doc: unknown): fc.Arbitrary<unknown> {
  const paths: string[][] = [];
  const walk = (v: unknown, p: string[]) => {
    paths.push(p);
    if (v && typeof v === 'object') for (const [k, c] of Object.entries(v)) walk(c, [...p, k]);
  };
  walk(doc, []);
  return fc.tuple(fc.constantFrom(...paths.filter((p) => p.length > 0)), fc.jsonValue()).map(([path, value]) => {
    const copy = structuredClone(doc) as Record<string, unknown>;
    let at: Record<string, unknown> = copy;
    for (const k of path.slice(0, -1)) at = at[k] as Record<string, unknown>;
    at[path[path.length - 1] as string] = value;
    return copy;
  });
}

const inputs = fc.oneof(
  fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v) ?? 'null')),
  fc.oneof(replaced(manifest), replaced(index), replaced(config)).map((v) => Buffer.from(JSON.stringify(v))),
  fc.uint8Array({ maxLength: 512 }).map((b) => Buffer.from(b)),
  fc.string({ maxLength: 200 }).map((s) => Buffer.from(s)),
);

test('fuzz: the manifest, index and config parsers', { timeout: FUZZ_TIMEOUT_MS }, async (t) => {
  await fuzz(t, inputs, (bytes) => {
    for (const parseOne of [parseManifest, parseIndex, parseImageConfig, sniffManifestKind]) {
      // Each parser gets the same input; a refusal must be a GantryError.
      try {
        parseOne(bytes);
      } catch (err) {
        assertGantryError(err);
      }
    }
  });
});
