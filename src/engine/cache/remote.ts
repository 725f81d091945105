/**
 * The build cache as an OCI artifact, shared between machines (`--cache-to`, `--cache-from`).
 *
 * The artifact is an OCI image manifest (artifactType `application/vnd.gantry.build-cache.v1+json`)
 * whose config blob holds the solver's records (step key -> the index of its result layer, or
 * none) with each layer's diffID, and whose layers are the result blobs. It lives in a registry
 * (`type=registry`: layers already in the registry are mounted or skipped, never re-uploaded) or
 * in an OCI image layout (`type=local`), named by a tag in its index.json.
 *
 * Importing reads only the manifest and config. A record's layer is fetched the first time its
 * content is needed (an export of the image, or a later step that runs on top of it), verified
 * against its digest and diffID on the way, and kept in the store. Anything that does not parse
 * as a gantry cache is ignored with one warning: a cache can make a build slower, never wrong.
 */
import type { Readable } from 'node:stream';
import { GantryError, type IoOptions } from '../../errors.js';
import { digestOf } from '../../oci/digest.js';
import { type BlobSource, type Image, type ImageIndex, isImageIndex, type Layer } from '../../oci/image.js';
import { OciLayout } from '../../oci/layout.js';
import { parseManifest } from '../../oci/parse.js';
import { layerFromDescriptor, readSmallBlob } from '../../oci/partial.js';
import { type Descriptor, type Digest, type ImageConfig, type Manifest, MediaType } from '../../oci/types.js';
import { parseReference } from '../../reference/index.js';
import type { RegistryClient } from '../../registry/client/client.js';
import type { Repo } from '../../registry/client/types.js';
import type { ImportedRecord } from '../../store/cache.js';
import type { Store } from '../../store/store.js';
import type { ProgressSink } from '../../util/progress.js';
import type { UsedRecord } from '../solver/solver.js';
import { writeImage } from '../source.js';
import type { CacheSpec } from './spec.js';

export const CACHE_ARTIFACT_TYPE = 'application/vnd.gantry.build-cache.v1+json';
export const CACHE_CONFIG_TYPE = 'application/vnd.gantry.build-cache.config.v1+json';

/** The config blob of a cache manifest. */
interface CacheConfig {
  readonly schemaVersion: 1;
  /** diffID of each manifest layer, by index. */
  readonly diffIDs: readonly Digest[];
  /** Step key -> index of its layer in the manifest (absent: the step made no layer). */
  readonly records: readonly { readonly key: string; readonly layer?: number }[];
}

const DIGEST = /^sha256:[a-f0-9]{64}$/;

export interface CacheContext extends IoOptions {
  readonly store: Store;
  readonly client: () => Promise<RegistryClient>;
  readonly progress?: ProgressSink;
  /** Layer digests not to take from any cache (their bytes did not verify): their steps run. */
  readonly distrust?: ReadonlySet<Digest>;
}

/** A cache that cannot be used: the reason becomes the one warning of that import. */
class Unusable extends Error {}

/**
 * A cache layer whose bytes do not match its digest (changed in the registry or the directory
 * since the cache was written). Found only when the layer is fetched, after its step was taken
 * as a hit: the build runs again without the records that name it (see `corruptCacheLayer`).
 */
class CorruptCacheLayer extends GantryError {
  readonly digest: Digest;
  constructor(digest: Digest, where: string, cause: unknown) {
    super('CACHE_LAYER_CORRUPT', `cache ${where}: layer ${digest} does not match its digest`, {
      phase: 'build',
      suggestion: 'export the cache again (--cache-to)',
      cause,
    });
    this.digest = digest;
  }
}

/** The digest of the cache layer that failed verification somewhere in `err`'s causes, if any. */
export function corruptCacheLayer(err: unknown): Digest | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 16; e = (e as { cause?: unknown }).cause, depth++)
    if (e instanceof CorruptCacheLayer) return e.digest;
  return undefined;
}

function describe(spec: CacheSpec): string {
  return spec.type === 'registry' ? spec.ref : `${spec.dir}:${spec.tag}`;
}

/**
 * A layer of an imported cache: its blob is fetched into the store on first use (verified), then
 * read from there; a push to the registry the cache lives in mounts it without reading it.
 */
class ImportedLayer implements Layer {
  readonly source: Repo | undefined;
  readonly #store: Store;
  readonly #remote: BlobSource;
  readonly #desc: Descriptor;
  readonly #diffID: Digest;
  readonly #where: string;
  #fetch: Promise<void> | undefined;

  constructor(
    store: Store,
    remote: BlobSource,
    desc: Descriptor,
    diffID: Digest,
    source: Repo | undefined,
    where: string,
  ) {
    this.#store = store;
    this.#remote = remote;
    this.#desc = desc;
    this.#diffID = diffID;
    this.source = source;
    this.#where = where;
  }

  async #local(o: IoOptions): Promise<Layer> {
    const layout = this.#store.layout;
    if (!(await layout.reuse(this.#desc.digest, o))) {
      this.#fetch ??= (async () => {
        try {
          await layout.writeBlob(await this.#remote.openBlob(this.#desc, o), this.#desc, o);
        } catch (err) {
          if (GantryError.is(err) && (err.code === 'DIGEST_MISMATCH' || err.code === 'SIZE_MISMATCH'))
            throw new CorruptCacheLayer(this.#desc.digest, this.#where, err);
          throw err;
        }
      })();
      // A failed fetch (an abort) is tried again by the next caller.
      this.#fetch.catch(() => {
        this.#fetch = undefined;
      });
      await this.#fetch;
    }
    return layerFromDescriptor(layout, this.#desc, this.#diffID);
  }

  async digest(): Promise<Digest> {
    return this.#desc.digest;
  }
  async diffID(): Promise<Digest> {
    return this.#diffID;
  }
  async size(): Promise<number> {
    return this.#desc.size;
  }
  async mediaType(): Promise<string> {
    return this.#desc.mediaType;
  }
  async compressed(o: IoOptions = {}): Promise<Readable> {
    return (await this.#local(o)).compressed(o);
  }
  async uncompressed(o: IoOptions = {}): Promise<Readable> {
    // Through the store: the diffID is checked while the layer is extracted.
    return (await this.#local(o)).uncompressed(o);
  }
}

/** Checks a cache config against its manifest; every fault makes the whole cache unusable. */
function parseConfig(raw: Buffer, manifest: Manifest): CacheConfig {
  let doc: unknown;
  try {
    doc = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new Unusable('its config is not JSON');
  }
  const c = doc as Partial<CacheConfig> | null;
  if (c === null || typeof c !== 'object' || c.schemaVersion !== 1) throw new Unusable('unknown cache schema version');
  if (!Array.isArray(c.diffIDs) || c.diffIDs.length !== manifest.layers.length)
    throw new Unusable('its diffIDs do not match its layers');
  for (const d of c.diffIDs) if (typeof d !== 'string' || !DIGEST.test(d)) throw new Unusable('a diffID is malformed');
  if (!Array.isArray(c.records)) throw new Unusable('it has no records');
  for (const r of c.records) {
    if (typeof r?.key !== 'string' || !DIGEST.test(r.key)) throw new Unusable('a record key is malformed');
    if (r.layer !== undefined && !(Number.isSafeInteger(r.layer) && r.layer >= 0 && r.layer < manifest.layers.length))
      throw new Unusable(`record ${r.key} names no layer of the manifest`);
  }
  for (const l of manifest.layers) if (!DIGEST.test(l.digest)) throw new Unusable('a layer digest is malformed');
  return c as CacheConfig;
}

function checkManifest(bytes: Buffer): Manifest {
  let manifest: Manifest;
  try {
    manifest = parseManifest(bytes);
  } catch (err) {
    throw new Unusable(`not a cache manifest (${(err as Error).message})`);
  }
  if (manifest.config.mediaType !== CACHE_CONFIG_TYPE)
    throw new Unusable(`not a gantry cache (config ${manifest.config.mediaType})`);
  return manifest;
}

function toRecords(
  ctx: CacheContext,
  where: string,
  manifest: Manifest,
  config: CacheConfig,
  blobs: BlobSource,
  source: Repo | undefined,
): Map<string, ImportedRecord> {
  const layers = manifest.layers.map(
    (desc, i) => new ImportedLayer(ctx.store, blobs, desc, config.diffIDs[i] as Digest, source, where),
  );
  const out = new Map<string, ImportedRecord>();
  for (const r of config.records) {
    if (r.layer === undefined) {
      out.set(r.key, {});
      continue;
    }
    const desc = manifest.layers[r.layer] as Descriptor;
    // A layer that failed verification in an earlier attempt of this build: its steps run.
    if (ctx.distrust?.has(desc.digest)) continue;
    const open = layers[r.layer] as ImportedLayer;
    out.set(r.key, {
      layer: {
        descriptor: { mediaType: desc.mediaType, digest: desc.digest, size: desc.size },
        diffID: config.diffIDs[r.layer] as Digest,
        open,
      },
    });
  }
  return out;
}

async function readRegistry(spec: CacheSpec & { type: 'registry' }, ctx: CacheContext) {
  const ref = parseReference(spec.ref);
  const client = await ctx.client();
  const o = { signal: ctx.signal };
  let bytes: Buffer;
  try {
    ({ bytes } = await client.getManifest(ref, o));
  } catch (err) {
    if (ctx.signal?.aborted) throw err;
    throw new Unusable(err instanceof Error ? err.message : String(err));
  }
  const manifest = checkManifest(bytes);
  const repo: Repo = { registry: ref.registry, repository: ref.repository };
  const blobs = client.blobSource(repo);
  let raw: Buffer;
  try {
    raw = await readSmallBlob(blobs, manifest.config, o);
  } catch (err) {
    if (ctx.signal?.aborted) throw err;
    throw new Unusable(`its config cannot be read (${(err as Error).message})`);
  }
  return toRecords(ctx, spec.ref, manifest, parseConfig(raw, manifest), blobs, repo);
}

async function readLocal(spec: CacheSpec & { type: 'local' }, ctx: CacheContext) {
  const o = { signal: ctx.signal };
  let layout: OciLayout;
  try {
    layout = await OciLayout.open(spec.dir);
  } catch (err) {
    throw new Unusable((err as Error).message);
  }
  const index = await layout.readIndex(o).catch((err: unknown) => {
    throw new Unusable((err as Error).message);
  });
  const entry = index.manifests.find((d) => d.annotations?.['org.opencontainers.image.ref.name'] === spec.tag);
  if (!entry) throw new Unusable(`no manifest named ${spec.tag}`);
  let bytes: Buffer;
  let raw: Buffer;
  try {
    bytes = await layout.readBlob(entry, o);
    const manifest = checkManifest(bytes);
    raw = await layout.readBlob(manifest.config, o);
    const config = parseConfig(raw, manifest);
    // A layer missing from the directory would fail the build later: refuse the cache now.
    for (const l of manifest.layers)
      if (!(await layout.hasBlob(l.digest))) throw new Unusable(`layer ${l.digest} is missing`);
    return toRecords(ctx, describe(spec), manifest, config, layout, undefined);
  } catch (err) {
    if (err instanceof Unusable || ctx.signal?.aborted) throw err;
    throw new Unusable((err as Error).message);
  }
}

/**
 * Reads every `--cache-from`, in order. A cache that is missing, corrupt or not a gantry cache
 * yields no records and one warning; the build then runs what it must.
 */
export async function importCaches(
  specs: readonly CacheSpec[],
  ctx: CacheContext,
): Promise<Map<string, ImportedRecord>[]> {
  const out: Map<string, ImportedRecord>[] = [];
  for (const spec of specs) {
    const id = `cache-import-${out.length}`;
    ctx.progress?.({ type: 'start', id, name: `importing cache ${describe(spec)}` });
    try {
      const records = spec.type === 'registry' ? await readRegistry(spec, ctx) : await readLocal(spec, ctx);
      out.push(records);
      ctx.progress?.({ type: 'done', id, detail: `${records.size} records` });
    } catch (err) {
      if (!(err instanceof Unusable)) {
        ctx.progress?.({ type: 'error', id, message: (err as Error).message });
        throw err;
      }
      ctx.progress?.({ type: 'done', id, detail: 'ignored' });
      ctx.progress?.({
        type: 'warning',
        code: 'CACHE_IMPORT_IGNORED',
        message: `cache ${describe(spec)} ignored: ${err.message}`,
      });
    }
  }
  return out;
}

/** The cache artifact as an Image, so the usual push and layout writers carry it. */
class CacheArtifact implements Image {
  readonly #raw: Buffer;
  readonly #config: Buffer;
  readonly #layers: Layer[];
  readonly #manifest: Manifest;

  constructor(manifest: Manifest, config: Buffer, layers: Layer[]) {
    this.#manifest = manifest;
    this.#raw = Buffer.from(JSON.stringify(manifest));
    this.#config = config;
    this.#layers = layers;
  }
  async mediaType(): Promise<string> {
    return MediaType.OciManifest;
  }
  async rawManifest(): Promise<Buffer> {
    return Buffer.from(this.#raw);
  }
  async manifest(): Promise<Manifest> {
    return this.#manifest;
  }
  async digest(): Promise<Digest> {
    return digestOf(this.#raw);
  }
  async size(): Promise<number> {
    return this.#raw.byteLength;
  }
  async rawConfigFile(): Promise<Buffer> {
    return Buffer.from(this.#config);
  }
  async configFile(): Promise<ImageConfig> {
    throw new GantryError('UNSUPPORTED_MEDIA_TYPE', 'a build cache manifest has no image config', {
      phase: 'export',
      suggestion: 'read it as a cache (--cache-from)',
    });
  }
  async configName(): Promise<Digest> {
    return this.#manifest.config.digest;
  }
  async layers(): Promise<Layer[]> {
    return [...this.#layers];
  }
  async layerByDigest(digest: Digest): Promise<Layer> {
    for (const l of this.#layers) if ((await l.digest()) === digest) return l;
    throw new GantryError('LAYER_NOT_FOUND', `the cache has no layer ${digest}`, {
      phase: 'export',
      suggestion: 'export the cache again',
    });
  }
}

/** A layer with a registry repository to mount it from (one the image was just pushed to). */
function mountable(layer: Layer, source: Repo): Layer & { source: Repo } {
  return {
    source,
    digest: (o) => layer.digest(o),
    diffID: (o) => layer.diffID(o),
    size: (o) => layer.size(o),
    mediaType: (o) => layer.mediaType(o),
    compressed: (o) => layer.compressed(o),
    uncompressed: (o) => layer.uncompressed(o),
  };
}

export interface ExportOptions extends CacheContext {
  /** Layer digests of the built image(s): what mode=min keeps. */
  readonly finalLayers: ReadonlySet<Digest>;
  /** Repositories the image was pushed to: its layers can be mounted from there. */
  readonly pushedTo?: readonly Repo[];
}

/** Builds the cache artifact of `records` for `spec` (mode=min: only the image's own layers). */
export function cacheArtifact(
  records: readonly UsedRecord[],
  mode: 'min' | 'max',
  options: Pick<ExportOptions, 'finalLayers'> & { mountFrom?: (layer: Layer, digest: Digest) => Layer },
): Image {
  const kept = records.filter((r) => !r.layer || mode === 'max' || options.finalLayers.has(r.layer.descriptor.digest));
  const layers: Layer[] = [];
  const descs: Descriptor[] = [];
  const diffIDs: Digest[] = [];
  const index = new Map<Digest, number>();
  const out: { key: string; layer?: number }[] = [];
  for (const r of [...kept].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))) {
    if (!r.layer) {
      out.push({ key: r.key });
      continue;
    }
    const d = r.layer.descriptor.digest;
    let i = index.get(d);
    if (i === undefined) {
      i = layers.length;
      index.set(d, i);
      layers.push(options.mountFrom ? options.mountFrom(r.layer.layer, d) : r.layer.layer);
      descs.push({ mediaType: r.layer.descriptor.mediaType, digest: d, size: r.layer.descriptor.size });
      diffIDs.push(r.layer.diffID);
    }
    out.push({ key: r.key, layer: i });
  }
  const config: CacheConfig = { schemaVersion: 1, diffIDs, records: out };
  const configBytes = Buffer.from(JSON.stringify(config));
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    artifactType: CACHE_ARTIFACT_TYPE,
    config: { mediaType: CACHE_CONFIG_TYPE, digest: digestOf(configBytes), size: configBytes.byteLength },
    layers: descs,
  } as Manifest;
  return new CacheArtifact(manifest, configBytes, layers);
}

/** Writes the records this build used to `spec` (a registry tag, or a layout directory). */
export async function exportCache(
  spec: CacheSpec,
  records: readonly UsedRecord[],
  options: ExportOptions,
): Promise<Descriptor | undefined> {
  const id = `cache-export-${describe(spec)}`;
  options.progress?.({ type: 'start', id, name: `exporting cache to ${describe(spec)} (mode=${spec.mode})` });
  const o = { signal: options.signal };
  try {
    let desc: Descriptor;
    if (spec.type === 'registry') {
      const ref = parseReference(spec.ref);
      const from = (options.pushedTo ?? []).find((r) => r.registry === ref.registry);
      const artifact = cacheArtifact(records, spec.mode, {
        finalLayers: options.finalLayers,
        ...(from
          ? {
              mountFrom: (layer: Layer, digest: Digest) =>
                (layer as { source?: Repo }).source === undefined && options.finalLayers.has(digest)
                  ? mountable(layer, from)
                  : layer,
            }
          : {}),
      });
      desc = await writeImage(
        artifact,
        { kind: 'registry', ref },
        { store: async () => options.store, client: options.client },
        o,
      );
    } else {
      const artifact = cacheArtifact(records, spec.mode, { finalLayers: options.finalLayers });
      desc = await writeImage(
        artifact,
        { kind: 'oci', path: spec.dir, tag: spec.tag },
        { store: async () => options.store, client: options.client },
        o,
      );
    }
    options.progress?.({ type: 'done', id, detail: desc.digest });
    return desc;
  } catch (err) {
    if (spec.ignoreError && !options.signal?.aborted) {
      options.progress?.({ type: 'done', id, detail: 'failed' });
      options.progress?.({
        type: 'warning',
        code: 'CACHE_EXPORT_FAILED',
        message: `cache export to ${describe(spec)} failed: ${(err as Error).message}`,
      });
      return undefined;
    }
    options.progress?.({ type: 'error', id, message: (err as Error).message });
    throw err;
  }
}

/** The layer digests of an image, or of every image of an index: what a mode=min cache keeps. */
export async function layerDigests(item: Image | ImageIndex, io: { signal?: AbortSignal }): Promise<Set<Digest>> {
  const out = new Set<Digest>();
  if (!isImageIndex(item)) {
    for (const l of (await item.manifest(io)).layers) out.add(l.digest);
    return out;
  }
  for (const child of (await item.indexManifest(io)).manifests) {
    for (const d of await layerDigests(await item.image(child.digest, io), io)) out.add(d);
  }
  return out;
}
