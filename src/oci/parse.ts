/**
 * Validation when reading manifests, indexes and image configs. Everything that comes from a
 * registry, a layout or a tarball goes through here before we trust a field of it: size and digest
 * first (the bytes are what their name says), then JSON, then media type, then shape. Errors carry
 * stable codes: MALFORMED_JSON, WRONG_MEDIA_TYPE, UNSUPPORTED_MEDIA_TYPE, INVALID_MANIFEST,
 * INVALID_INDEX, INVALID_CONFIG, SIZE_MISMATCH, DIGEST_MISMATCH.
 */
import { DigestMismatchError, InvalidContentError } from '../errors.js';
import { digestOf, isDigest, parseDigest } from './digest.js';
import { type Descriptor, type Digest, type ImageConfig, type Index, type Manifest, MediaType } from './types.js';

type Json = Record<string, unknown>;

export interface ParseExpectations {
  readonly mediaType?: string;
  readonly digest?: Digest;
  readonly size?: number;
}

const MANIFEST_TYPES: ReadonlySet<string> = new Set([MediaType.OciManifest, MediaType.DockerManifest]);
const INDEX_TYPES: ReadonlySet<string> = new Set([MediaType.OciIndex, MediaType.DockerManifestList]);
const LAYER_TYPES: ReadonlySet<string> = new Set([
  MediaType.OciLayer,
  MediaType.OciLayerGzip,
  MediaType.OciLayerZstd,
  'application/vnd.oci.image.layer.nondistributable.v1.tar',
  MediaType.OciLayerNondistributableGzip,
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  MediaType.DockerLayerGzip,
  MediaType.DockerForeignLayerGzip,
  'application/vnd.docker.image.rootfs.diff.tar',
  'application/vnd.docker.image.rootfs.diff.tar.zstd',
]);
const SCHEMA1_TYPES: ReadonlySet<string> = new Set([
  'application/vnd.docker.distribution.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v1+prettyjws',
]);

export function isIndexMediaType(mt: string): boolean {
  return INDEX_TYPES.has(mt);
}

export function isManifestMediaType(mt: string): boolean {
  return MANIFEST_TYPES.has(mt);
}

export function isLayerMediaType(mt: string): boolean {
  return LAYER_TYPES.has(mt);
}

/** A descriptor for `bytes`: digest and size computed, `extra` fields (annotations, platform...) kept. */
export function descriptorOf(bytes: Uint8Array, mediaType: string, extra: Partial<Descriptor> = {}): Descriptor {
  const { mediaType: _m, digest: _d, size: _s, ...rest } = extra;
  return { mediaType, digest: digestOf(bytes), size: bytes.byteLength, ...rest };
}

function checkBytes(bytes: Uint8Array, what: string, expect: ParseExpectations | undefined): void {
  if (expect?.size !== undefined && bytes.byteLength !== expect.size) {
    throw new InvalidContentError(
      'SIZE_MISMATCH',
      `${what} size mismatch: expected ${expect.size} bytes, got ${bytes.byteLength}`,
      { phase: 'parse', suggestion: 'the content is truncated or was changed; fetch it again' },
    );
  }
  if (expect?.digest !== undefined) {
    const { algorithm } = parseDigest(expect.digest);
    const actual = digestOf(bytes, algorithm);
    if (actual !== expect.digest) throw new DigestMismatchError(expect.digest, actual, what, { phase: 'parse' });
  }
}

function parseJsonObject(bytes: Uint8Array, what: string): Json {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch (err) {
    throw new InvalidContentError('MALFORMED_JSON', `${what} is not valid JSON: ${(err as Error).message}`, {
      phase: 'parse',
      suggestion: 'the content is corrupt or is not a ' + what,
      cause: err,
    });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidContentError('MALFORMED_JSON', `${what} is not a JSON object`, {
      phase: 'parse',
      suggestion: 'the content is corrupt or is not a ' + what,
    });
  }
  return value as Json;
}

/** Collects shape problems of one document; thrown as one error naming the first few. */
class Shape {
  readonly problems: string[] = [];

  fail(path: string, why: string): void {
    this.problems.push(`${path} ${why}`);
  }

  string(obj: Json, key: string, path: string, required: boolean): void {
    const v = obj[key];
    if (v === undefined) {
      if (required) this.fail(`${path}.${key}`, 'is missing');
    } else if (typeof v !== 'string') this.fail(`${path}.${key}`, 'must be a string');
  }

  stringArray(obj: Json, key: string, path: string): void {
    const v = obj[key];
    if (v === undefined) return;
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) this.fail(`${path}.${key}`, 'must be strings');
  }

  stringMap(obj: Json, key: string, path: string): void {
    const v = obj[key];
    if (v === undefined) return;
    if (!isObject(v) || !Object.values(v).every((x) => typeof x === 'string')) {
      this.fail(`${path}.${key}`, 'must map strings to strings');
    }
  }

  descriptor(v: unknown, path: string): void {
    if (!isObject(v)) {
      this.fail(path, 'must be a descriptor object');
      return;
    }
    this.string(v, 'mediaType', path, true);
    if (typeof v.digest !== 'string') this.fail(`${path}.digest`, 'is missing');
    else if (!isDigest(v.digest)) this.fail(`${path}.digest`, `is not a valid digest (${JSON.stringify(v.digest)})`);
    if (typeof v.size !== 'number' || !Number.isSafeInteger(v.size) || v.size < 0) {
      this.fail(`${path}.size`, 'must be a non-negative integer');
    }
    this.stringArray(v, 'urls', path);
    this.stringMap(v, 'annotations', path);
    this.string(v, 'artifactType', path, false);
    if (v.platform !== undefined) this.platform(v.platform, `${path}.platform`);
    if (v.data !== undefined) this.embeddedData(v, path);
  }

  platform(v: unknown, path: string): void {
    if (!isObject(v)) {
      this.fail(path, 'must be an object');
      return;
    }
    this.string(v, 'architecture', path, true);
    this.string(v, 'os', path, true);
    this.string(v, 'variant', path, false);
    this.string(v, 'os.version', path, false);
    this.stringArray(v, 'os.features', path);
    this.stringArray(v, 'features', path);
  }

  // Embedded data must be exactly the bytes the descriptor names (image-spec descriptor.md).
  embeddedData(v: Json, path: string): void {
    if (typeof v.data !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v.data)) {
      this.fail(`${path}.data`, 'must be base64');
      return;
    }
    if (typeof v.digest !== 'string' || !isDigest(v.digest) || typeof v.size !== 'number') return;
    const data = Buffer.from(v.data, 'base64');
    if (data.byteLength !== v.size || digestOf(data, parseDigest(v.digest).algorithm) !== v.digest) {
      this.fail(`${path}.data`, 'does not match its digest and size');
    }
  }

  throwIfAny(code: string, what: string): void {
    if (this.problems.length === 0) return;
    const shown = this.problems.slice(0, 3).join('; ');
    const more = this.problems.length > 3 ? ` (and ${this.problems.length - 3} more)` : '';
    throw new InvalidContentError(code, `invalid ${what}: ${shown}${more}`, {
      phase: 'parse',
      suggestion: `the ${what} does not follow the OCI image spec; rebuild or re-push it with a conforming tool`,
    });
  }
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function wrongType(what: string, got: string, want: string): InvalidContentError {
  return new InvalidContentError('WRONG_MEDIA_TYPE', `expected ${want} but the ${what} is ${got}`, {
    phase: 'parse',
    suggestion: 'the reference names a different kind of object; check the reference or the descriptor media type',
  });
}

function unsupported(what: string, mt: string): InvalidContentError {
  const schema1 = SCHEMA1_TYPES.has(mt);
  return new InvalidContentError('UNSUPPORTED_MEDIA_TYPE', `unsupported ${what} media type ${JSON.stringify(mt)}`, {
    phase: 'parse',
    suggestion: schema1
      ? 'Docker schema 1 images are obsolete; re-push the image with a current tool'
      : 'only OCI and Docker v2 schema 2 manifests and indexes are supported',
  });
}

/**
 * Checks the media type an outside source claims (`expect`, from a descriptor or Content-Type)
 * and the one the document declares against the kind we are parsing.
 */
function checkMediaType(
  doc: Json,
  kind: 'manifest' | 'index',
  expected: string | undefined,
  shape: Shape,
  what: string,
): void {
  const mine = kind === 'manifest' ? MANIFEST_TYPES : INDEX_TYPES;
  const other = kind === 'manifest' ? INDEX_TYPES : MANIFEST_TYPES;
  const want = kind === 'manifest' ? 'an image manifest' : 'an image index';
  if (expected !== undefined) {
    if (other.has(expected)) throw wrongType('descriptor', expected, want);
    if (!mine.has(expected)) throw unsupported(what, expected);
  }
  const declared = doc.mediaType;
  if (declared === undefined) {
    // Docker v2 schema 2 requires mediaType; OCI makes it optional. Without it we go by shape.
    if (expected === MediaType.DockerManifest || expected === MediaType.DockerManifestList) {
      shape.fail(`${what}.mediaType`, 'is required for Docker media types');
    }
    return;
  }
  if (typeof declared !== 'string') {
    shape.fail(`${what}.mediaType`, 'must be a string');
    return;
  }
  if (other.has(declared)) throw wrongType(what, declared, want);
  if (!mine.has(declared)) throw unsupported(what, declared);
  if (expected !== undefined && declared !== expected) {
    throw wrongType(what, declared, expected);
  }
}

function checkSchemaVersion(doc: Json, what: string): void {
  if (doc.schemaVersion === 1) throw unsupported(what, String(doc.mediaType ?? SCHEMA1_TYPES.values().next().value));
  if (doc.schemaVersion !== 2) {
    throw new InvalidContentError(
      what === 'index' ? 'INVALID_INDEX' : 'INVALID_MANIFEST',
      `invalid ${what}: schemaVersion must be 2, got ${JSON.stringify(doc.schemaVersion)}`,
      { phase: 'parse', suggestion: 'only OCI and Docker v2 schema 2 manifests and indexes are supported' },
    );
  }
}

export function parseManifest(bytes: Uint8Array, expect?: ParseExpectations): Manifest {
  checkBytes(bytes, 'manifest', expect);
  const doc = parseJsonObject(bytes, 'manifest');
  checkSchemaVersion(doc, 'manifest');
  const shape = new Shape();
  checkMediaType(doc, 'manifest', expect?.mediaType, shape, 'manifest');
  if (doc.manifests !== undefined && doc.config === undefined) {
    throw wrongType('manifest', 'an image index (it has "manifests")', 'an image manifest');
  }
  if (doc.config === undefined) shape.fail('manifest.config', 'is missing');
  else shape.descriptor(doc.config, 'manifest.config');
  if (!Array.isArray(doc.layers)) shape.fail('manifest.layers', 'must be an array');
  else for (const [i, l] of doc.layers.entries()) shape.descriptor(l, `manifest.layers[${i}]`);
  if (doc.subject !== undefined) shape.descriptor(doc.subject, 'manifest.subject');
  shape.string(doc, 'artifactType', 'manifest', false);
  shape.stringMap(doc, 'annotations', 'manifest');
  shape.throwIfAny('INVALID_MANIFEST', 'manifest');
  return doc as unknown as Manifest;
}

export function parseIndex(bytes: Uint8Array, expect?: ParseExpectations): Index {
  checkBytes(bytes, 'index', expect);
  const doc = parseJsonObject(bytes, 'index');
  checkSchemaVersion(doc, 'index');
  const shape = new Shape();
  checkMediaType(doc, 'index', expect?.mediaType, shape, 'index');
  if (doc.config !== undefined && doc.manifests === undefined) {
    throw wrongType('index', 'an image manifest (it has "config")', 'an image index');
  }
  if (!Array.isArray(doc.manifests)) shape.fail('index.manifests', 'must be an array');
  else for (const [i, m] of doc.manifests.entries()) shape.descriptor(m, `index.manifests[${i}]`);
  if (doc.subject !== undefined) shape.descriptor(doc.subject, 'index.subject');
  shape.string(doc, 'artifactType', 'index', false);
  shape.stringMap(doc, 'annotations', 'index');
  shape.throwIfAny('INVALID_INDEX', 'index');
  return doc as unknown as Index;
}

export function parseImageConfig(bytes: Uint8Array, expect?: { digest?: Digest; size?: number }): ImageConfig {
  checkBytes(bytes, 'image config', expect);
  const doc = parseJsonObject(bytes, 'image config');
  const shape = new Shape();
  const path = 'config';
  shape.string(doc, 'architecture', path, true);
  shape.string(doc, 'os', path, true);
  shape.string(doc, 'variant', path, false);
  shape.string(doc, 'created', path, false);
  shape.string(doc, 'author', path, false);
  shape.string(doc, 'os.version', path, false);
  shape.stringArray(doc, 'os.features', path);
  const rootfs = doc.rootfs;
  if (!isObject(rootfs)) shape.fail('config.rootfs', 'is missing');
  else {
    if (rootfs.type !== 'layers') shape.fail('config.rootfs.type', 'must be "layers"');
    if (!Array.isArray(rootfs.diff_ids)) shape.fail('config.rootfs.diff_ids', 'must be an array');
    else
      rootfs.diff_ids.forEach((d, i) => {
        if (typeof d !== 'string' || !isDigest(d)) shape.fail(`config.rootfs.diff_ids[${i}]`, 'is not a valid digest');
      });
  }
  if (doc.config !== undefined && doc.config !== null) {
    const c = doc.config;
    if (!isObject(c)) shape.fail('config.config', 'must be an object');
    else {
      for (const key of ['User', 'WorkingDir', 'StopSignal']) shape.string(c, key, 'config.config', false);
      for (const key of ['Env', 'Shell']) shape.stringArray(c, key, 'config.config');
      for (const key of ['Entrypoint', 'Cmd', 'OnBuild'])
        if (c[key] !== null) shape.stringArray(c, key, 'config.config');
      shape.stringMap(c, 'Labels', 'config.config');
      for (const key of ['ExposedPorts', 'Volumes']) {
        if (c[key] !== undefined && c[key] !== null && !isObject(c[key]))
          shape.fail(`config.config.${key}`, 'must be an object');
      }
    }
  }
  if (doc.history !== undefined && doc.history !== null) {
    if (!Array.isArray(doc.history)) shape.fail('config.history', 'must be an array');
    else
      doc.history.forEach((h, i) => {
        if (!isObject(h)) shape.fail(`config.history[${i}]`, 'must be an object');
        else if (h.empty_layer !== undefined && typeof h.empty_layer !== 'boolean') {
          shape.fail(`config.history[${i}].empty_layer`, 'must be a boolean');
        }
      });
  }
  shape.throwIfAny('INVALID_CONFIG', 'image config');
  return doc as unknown as ImageConfig;
}

/** Manifest or index? Uses the mediaType field, else the shape (`manifests` vs `config`). */
export function sniffManifestKind(bytes: Uint8Array): { kind: 'manifest' | 'index'; mediaType: string } {
  const doc = parseJsonObject(bytes, 'manifest');
  const mt = doc.mediaType;
  if (typeof mt === 'string') {
    if (INDEX_TYPES.has(mt)) return { kind: 'index', mediaType: mt };
    if (MANIFEST_TYPES.has(mt)) return { kind: 'manifest', mediaType: mt };
    throw unsupported('manifest', mt);
  }
  if (doc.schemaVersion === 1) throw unsupported('manifest', 'application/vnd.docker.distribution.manifest.v1+json');
  if (Array.isArray(doc.manifests)) return { kind: 'index', mediaType: MediaType.OciIndex };
  if (isObject(doc.config)) return { kind: 'manifest', mediaType: MediaType.OciManifest };
  throw new InvalidContentError('INVALID_MANIFEST', 'document is neither an image manifest nor an image index', {
    phase: 'parse',
    suggestion: 'a manifest has "config" and "layers", an index has "manifests"; check what the reference names',
  });
}
