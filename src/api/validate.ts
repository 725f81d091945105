/**
 * `validate`: checks that every blob of an image is present and matches its digest and size, as
 * `crane validate` does: the manifest (verified as it is fetched), the config, and each layer,
 * whose uncompressed tar must also match the config's diff_id; for an index, every child
 * manifest and its blobs. `fast` only checks that each blob exists (with its size where the
 * source says it). Works on a registry reference, an OCI layout (`oci:DIR[:TAG]`) and a store
 * name (`store:NAME`). Every problem is reported, not only the first.
 */
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type ImageLocation, openImage } from '../engine/source.js';
import { GantryError, type IoOptions, throwIfAborted } from '../errors.js';
import { decompressByMagic } from '../oci/compression.js';
import { VerifyingStream } from '../oci/digest.js';
import type { BlobSource } from '../oci/image.js';
import { OciLayout } from '../oci/layout.js';
import { isIndexMediaType, isLayerMediaType, isManifestMediaType, parseIndex, parseManifest } from '../oci/parse.js';
import { readSmallBlob } from '../oci/partial.js';
import type { Descriptor, Digest } from '../oci/types.js';
import { formatReference } from '../reference/index.js';
import type { RegistryClient } from '../registry/client/client.js';
import { step } from '../util/progress.js';
import { io, usage } from './edit.js';
import { callerLocation } from './input.js';
import { type CommonOptions, sessionOf } from './session.js';

export interface ValidateOptions extends CommonOptions {
  /** Only check that each blob exists (and its size), without reading it. */
  readonly fast?: boolean;
}

export interface ValidationProblem {
  /** What the blob is: `manifest`, `config of sha256:…`, `layer 2 of sha256:…`. */
  readonly what: string;
  readonly digest: Digest;
  readonly message: string;
}

export interface Validation {
  readonly name: string;
  readonly digest: Digest;
  /** Manifests and blobs looked at. */
  readonly checked: number;
  readonly problems: readonly ValidationProblem[];
}

/** How one location answers: open a blob (verified), say whether it has one, read a child manifest. */
interface Source {
  readonly blobs: BlobSource;
  /** The size of a blob when present, undefined when missing; `true` when present and the size is unknown. */
  has(digest: Digest, o: IoOptions): Promise<number | undefined>;
  manifest(desc: Descriptor, o: IoOptions): Promise<Buffer>;
}

function registrySource(client: RegistryClient, repo: { registry: string; repository: string }): Source {
  return {
    blobs: client.blobSource(repo),
    has: (digest, o) => client.blobSize(repo, digest, o),
    manifest: async (desc, o) => {
      const got = await client.getManifest({ ...repo, digest: desc.digest }, o);
      if (got.bytes.byteLength !== desc.size) {
        throw new GantryError(
          'SIZE_MISMATCH',
          `manifest is ${got.bytes.byteLength} bytes, its index says ${desc.size}`,
          {
            phase: 'resolve',
            suggestion: 'the index is corrupt; re-push the image',
          },
        );
      }
      return got.bytes;
    },
  };
}

function layoutSource(layout: OciLayout): Source {
  return {
    blobs: layout,
    has: async (digest) => (await stat(layout.blobPath(digest)).catch(() => undefined))?.size,
    manifest: (desc, o) => readSmallBlob(layout, desc, o),
  };
}

const discard = () =>
  new Writable({
    write(_chunk, _enc, cb) {
      cb();
    },
  });

class Validator {
  readonly #source: Source;
  readonly #fast: boolean;
  readonly #o: IoOptions;
  readonly problems: ValidationProblem[] = [];
  checked = 0;

  constructor(source: Source, fast: boolean, o: IoOptions) {
    this.#source = source;
    this.#fast = fast;
    this.#o = o;
  }

  async #check(what: string, desc: Descriptor, read: (stream: Readable) => Promise<void>): Promise<void> {
    throwIfAborted(this.#o.signal);
    this.checked++;
    try {
      if (this.#fast) {
        const size = await this.#source.has(desc.digest, this.#o);
        if (size === undefined) throw new GantryError('BLOB_NOT_FOUND', 'missing');
        if (size !== desc.size) throw new GantryError('SIZE_MISMATCH', `${size} bytes, the manifest says ${desc.size}`);
        return;
      }
      await read(await this.#source.blobs.openBlob(desc, this.#o));
    } catch (err) {
      if (this.#o.signal?.aborted) throw err;
      this.problems.push({ what, digest: desc.digest, message: err instanceof Error ? err.message : String(err) });
    }
  }

  /** Checks the manifest (or index) named by `desc`, whose bytes are `bytes` (already verified). */
  async item(desc: Descriptor, bytes: Buffer, depth = 0): Promise<void> {
    this.checked++;
    if (isIndexMediaType(desc.mediaType)) {
      for (const child of parseIndex(bytes).manifests) await this.child(child, depth + 1);
      return;
    }
    const manifest = parseManifest(bytes);
    const short = desc.digest.slice(0, 19);
    let diffIds: readonly Digest[] | undefined;
    await this.#check(`config of ${short}`, manifest.config, async (stream) => {
      const raw = Buffer.concat(await stream.toArray());
      try {
        diffIds = (JSON.parse(raw.toString('utf8')) as { rootfs?: { diff_ids?: Digest[] } }).rootfs?.diff_ids;
      } catch {
        diffIds = undefined;
      }
    });
    for (const [i, layer] of manifest.layers.entries()) {
      const diffId = diffIds?.length === manifest.layers.length ? diffIds[i] : undefined;
      await this.#check(`layer ${i + 1} of ${short}`, layer, async (stream) => {
        if (diffId === undefined || !isLayerMediaType(layer.mediaType)) {
          await pipeline(stream, discard(), this.#o);
          return;
        }
        const tar = await decompressByMagic(stream, this.#o);
        await pipeline(tar, new VerifyingStream(diffId, undefined, 'uncompressed layer (diff_id)'), discard(), this.#o);
      });
    }
  }

  async child(desc: Descriptor, depth: number): Promise<void> {
    if (depth > 4 || !(isIndexMediaType(desc.mediaType) || isManifestMediaType(desc.mediaType))) {
      await this.#check(`blob of ${desc.mediaType}`, desc, (s) => pipeline(s, discard(), this.#o));
      return;
    }
    let bytes: Buffer;
    try {
      bytes = await this.#source.manifest(desc, this.#o);
    } catch (err) {
      if (this.#o.signal?.aborted) throw err;
      this.checked++;
      this.problems.push({
        what: 'manifest',
        digest: desc.digest,
        message: err instanceof Error ? err.message : String(err),
      });
      return;
    }
    await this.item(desc, bytes, depth);
  }
}

/** Validates an image, index, layout entry or store name; resolves with every problem found. */
export async function validate(image: string | ImageLocation, options: ValidateOptions = {}): Promise<Validation> {
  const loc = callerLocation(image);
  const o = io(options);
  const session = sessionOf(options);
  let source: Source;
  let name: string;
  switch (loc.kind) {
    case 'registry':
      source = registrySource(await session.client(options.progress), loc.ref);
      name = formatReference(loc.ref);
      break;
    case 'oci':
      source = layoutSource(await OciLayout.open(loc.path));
      name = `oci:${loc.path}${loc.tag ? `:${loc.tag}` : ''}`;
      break;
    case 'store':
      source = layoutSource((await session.store()).layout);
      name = `store:${loc.name}`;
      break;
    default:
      throw usage(
        `validate reads registries, oci: layouts and store: names, not ${loc.kind}:`,
        'copy the archive to an oci: layout first (gantry copy), then validate that',
      );
  }
  // The top manifest: fetched and verified by the location's own reader.
  const opened = await openImage(
    loc,
    { store: () => session.store(), client: () => session.client(options.progress) },
    o,
  );
  try {
    const validator = new Validator(source, options.fast === true, o);
    const sink = options.progress ?? (() => {});
    await step(sink, `validate ${name}`, `validate ${name}`, async () =>
      validator.item(opened.descriptor, await opened.item.rawManifest(o)),
    );
    return { name, digest: opened.descriptor.digest, checked: validator.checked, problems: validator.problems };
  } finally {
    await opened.close();
  }
}
