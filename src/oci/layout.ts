/**
 * An OCI image layout directory (image-spec image-layout.md): `oci-layout`, `index.json` and
 * content-addressed `blobs/<alg>/<hex>`. Blob writes stream into `blobs/.tmp/` inside the layout
 * (same filesystem), are verified, fsynced and renamed into place, so a reader never sees a partial
 * or wrong blob and concurrent writers of the same blob are harmless. Every digest is parsed before
 * it becomes a path. Also: copying a whole image or index into a layout.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, writeSync } from 'node:fs';
import { type FileHandle, link, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, pipeline as pipelineCb, type Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AbortedError, GantryError, type IoOptions, throwIfAborted } from '../errors.js';
import { mkdirp, writeFileAtomic } from '../util/fs.js';
import { createDigester, type Digester, parseDigest, VerifyingStream, verifiesItself } from './digest.js';
import { type BlobSource, type Image, type ImageIndex, isImageIndex } from './image.js';
import { isIndexMediaType, isManifestMediaType, parseIndex } from './parse.js';
import { imageFromManifest, indexFromManifest } from './partial.js';
import { bindAbort, drainsTo, markBlobFile, readBounded, rethrowAborted, type SinkSource } from './stream.js';
import { type Descriptor, type Digest, type Index, MediaType } from './types.js';

const LAYOUT_FILE = 'oci-layout';
const INDEX_FILE = 'index.json';
const LAYOUT_VERSION = '1.0.0';

function notALayout(dir: string, why: string, cause?: unknown): GantryError {
  return new GantryError('NOT_AN_OCI_LAYOUT', `${dir} is not an OCI image layout: ${why}`, {
    phase: 'store',
    suggestion: 'point at a directory with an oci-layout file, or create one with init',
    cause,
  });
}

function isErrno(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as NodeJS.ErrnoException).code === code;
}

/** Creates `target` with `data` unless it exists (atomically: no reader sees it half written). */
async function createIfAbsent(target: string, data: string): Promise<void> {
  const tmp = `${target}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  await writeFileAtomic(tmp, data);
  try {
    await link(tmp, target);
  } catch (err) {
    if (!isErrno(err, 'EEXIST')) throw err;
  } finally {
    await rm(tmp, { force: true });
  }
}

/** Hashes what passes through, for writes whose digest is not known in advance. */
class DigestingStream extends Transform {
  readonly digester: Digester = createDigester('sha256');
  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    this.digester.update(chunk);
    callback(null, chunk);
  }
}

/**
 * Told which blobs an operation is about to rely on, before it checks that they are present: the
 * store leases them so that a concurrent prune keeps them (see store/leases.ts).
 */
export type BlobRetainer = (digests: readonly Digest[], options: IoOptions) => Promise<void>;

export class OciLayout implements BlobSource {
  readonly dir: string;
  #retainer: BlobRetainer | undefined;
  /** Blobs this process wrote (and hashed on the way) into this layout. */
  readonly #written = new Set<Digest>();

  private constructor(dir: string) {
    this.dir = dir;
  }

  /** Opens an existing layout; GantryError 'NOT_AN_OCI_LAYOUT' if `oci-layout` is missing or bad. */
  static async open(dir: string): Promise<OciLayout> {
    let text: string;
    try {
      text = await readFile(join(dir, LAYOUT_FILE), 'utf8');
    } catch (err) {
      throw notALayout(dir, isErrno(err, 'ENOENT') ? 'oci-layout is missing' : 'oci-layout cannot be read', err);
    }
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      throw notALayout(dir, 'oci-layout is not JSON', err);
    }
    const version = (doc as { imageLayoutVersion?: unknown } | null)?.imageLayoutVersion;
    if (version !== LAYOUT_VERSION) {
      throw notALayout(dir, `unsupported imageLayoutVersion ${JSON.stringify(version)}`);
    }
    return new OciLayout(dir);
  }

  /** Creates the layout if missing (index.json first, oci-layout last), opens it if present. */
  static async init(dir: string): Promise<OciLayout> {
    // A complete layout opens with two stats and a read, nothing written (a no-change build).
    const present = await Promise.all([stat(join(dir, 'blobs', 'sha256')), stat(join(dir, INDEX_FILE))]).then(
      ([blobs, index]) => blobs.isDirectory() && index.isFile(),
      () => false,
    );
    if (present) {
      const opened = await OciLayout.open(dir).catch(() => undefined);
      if (opened) return opened;
    }
    await mkdirp(join(dir, 'blobs', 'sha256'));
    const empty: Index = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] };
    await createIfAbsent(join(dir, INDEX_FILE), JSON.stringify(empty));
    await createIfAbsent(join(dir, LAYOUT_FILE), JSON.stringify({ imageLayoutVersion: LAYOUT_VERSION }));
    return OciLayout.open(dir);
  }

  /** The path of a blob. Throws INVALID_DIGEST for anything but a well-formed digest. */
  blobPath(digest: Digest): string {
    const { algorithm, hex } = parseDigest(digest);
    return join(this.dir, 'blobs', algorithm, hex);
  }

  /** Sets who is told about the blobs an operation reuses (the store's leases). */
  setRetainer(retainer: BlobRetainer | undefined): void {
    this.#retainer = retainer;
  }

  /** Holds `digests` for the running operation (a no-op without a retainer). */
  async retain(digests: readonly Digest[], options: IoOptions = {}): Promise<void> {
    if (this.#retainer && digests.length > 0) await this.#retainer(digests, options);
  }

  /**
   * Whether a blob the caller wants to reuse is present, holding it first: once this says true, a
   * concurrent prune keeps the blob for the operation.
   */
  async reuse(digest: Digest, options: IoOptions = {}): Promise<boolean> {
    await this.retain([digest], options);
    return this.hasBlob(digest);
  }

  /** Where blob writes are staged before the rename. */
  get tempDir(): string {
    return join(this.dir, 'blobs', '.tmp');
  }

  async hasBlob(digest: Digest): Promise<boolean> {
    try {
      return (await stat(this.blobPath(digest))).isFile();
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return false;
      throw err;
    }
  }

  /** Opens a blob; the stream fails with DIGEST_MISMATCH / SIZE_MISMATCH if the file is not what it is named. */
  async openBlob(desc: { digest: Digest; size?: number }, options: IoOptions = {}): Promise<Readable> {
    throwIfAborted(options.signal);
    const path = this.blobPath(desc.digest);
    const verify = new VerifyingStream(desc.digest, desc.size, `blob ${desc.digest}`);
    let fh: Awaited<ReturnType<typeof open>>;
    try {
      fh = await open(path, 'r');
    } catch (err) {
      if (isErrno(err, 'ENOENT')) {
        throw new GantryError('BLOB_NOT_FOUND', `blob ${desc.digest} is not in ${this.dir}`, {
          phase: 'store',
          suggestion: 'pull or copy the image into the layout again',
          cause: err,
        });
      }
      throw err;
    }
    const file = createReadStream('', { fd: fh, autoClose: true });
    const stream = bindAbort(
      pipelineCb(file, verify, () => {}),
      options.signal,
    );
    // A blob this process wrote and hashed: a copier may copy the file (never read or hashed here
    // again) instead of the stream; the stream itself still checks every byte.
    return this.#written.has(desc.digest) ? markBlobFile(stream, path) : stream;
  }

  /** Reads a small blob (manifest, config) whole; refuses anything over MAX_SMALL_BLOB. */
  async readBlob(desc: { digest: Digest; size?: number }, options: IoOptions = {}): Promise<Buffer> {
    const stream = await this.openBlob(desc, options);
    return readBounded(stream, undefined, { signal: options.signal, what: `blob ${desc.digest}` });
  }

  async #present(digest: Digest, size: number | undefined): Promise<boolean> {
    try {
      const s = await stat(this.blobPath(digest));
      // A file of the wrong size is a torn or corrupt blob: let the new write replace it.
      return s.isFile() && (size === undefined || s.size === size);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return false;
      throw err;
    }
  }

  async #commit(tmp: string, digest: Digest, size: number, options: IoOptions): Promise<void> {
    await this.retain([digest], options);
    if (await this.#present(digest, size)) {
      await rm(tmp, { force: true });
      return;
    }
    const target = this.blobPath(digest);
    await mkdirp(join(target, '..'));
    await rename(tmp, target);
    this.#written.add(digest);
  }

  /**
   * Says that this process put the blob file of `digest` in place itself, from bytes it hashed as
   * it wrote them (Store.writeLayer): see openBlob.
   */
  noteWritten(digest: Digest): void {
    this.#written.add(digest);
  }

  async #tempFile(): Promise<string> {
    await mkdirp(this.tempDir);
    return join(this.tempDir, `${process.pid}-${randomBytes(8).toString('hex')}`);
  }

  /**
   * Streams `source` into blobs/ atomically: temp file in the layout, verify, fsync, rename. With
   * an expected digest whose blob is present, nothing is read (the source is destroyed).
   */
  async writeBlob(
    source: Readable,
    expected: { digest?: Digest; size?: number } = {},
    options: IoOptions = {},
  ): Promise<{ digest: Digest; size: number }> {
    throwIfAborted(options.signal);
    if (expected.digest !== undefined) {
      parseDigest(expected.digest);
      await this.retain([expected.digest], options);
      if (await this.#present(expected.digest, expected.size)) {
        source.destroy();
        const size = expected.size ?? (await stat(this.blobPath(expected.digest))).size;
        return { digest: expected.digest, size };
      }
    }
    const tmp = await this.#tempFile();
    // Opened before the pipeline starts, so the file exists by the time a failure removes it
    // (a stream that opens lazily could create it after the cleanup).
    const fh = await open(tmp, 'wx', 0o644);
    try {
      let result: { digest: Digest; size: number };
      let synced = false;
      if (expected.digest !== undefined && drainsTo(source) && verifiesItself(source, expected.digest, expected.size)) {
        // A registry blob (client/blobs.ts): each checked piece is written as it is read, straight
        // from the socket's buffer, with no stream, thread-pool round trip or copy per piece.
        result = { digest: expected.digest, size: await drainToFile(source, fh, options.signal) };
        await fh.sync();
        await fh.close();
        synced = true;
      } else if (expected.digest !== undefined && verifiesItself(source, expected.digest, expected.size)) {
        // A blob read from a layout (the store, on export) checks itself against this very digest
        // and size and fails the pipeline otherwise: hashing it here again would check nothing more.
        await pipeline(source, fh.createWriteStream(FILE_WRITES), { signal: options.signal });
        result = { digest: expected.digest, size: source.bytesSeen };
      } else if (expected.digest !== undefined) {
        const verify = new VerifyingStream(expected.digest, expected.size, `blob ${expected.digest}`);
        await pipeline(source, verify, fh.createWriteStream(FILE_WRITES), {
          signal: options.signal,
        });
        result = { digest: expected.digest, size: verify.bytesSeen };
      } else {
        const hashing = new DigestingStream();
        await pipeline(source, hashing, fh.createWriteStream(FILE_WRITES), {
          signal: options.signal,
        });
        result = { digest: hashing.digester.digest(), size: hashing.digester.size };
        if (expected.size !== undefined && result.size !== expected.size) {
          throw new GantryError(
            'SIZE_MISMATCH',
            `blob size mismatch: expected ${expected.size} bytes, got ${result.size}`,
            { phase: 'store', suggestion: 'the data is truncated or was changed in transit; fetch it again' },
          );
        }
      }
      if (!synced) await fsyncFile(tmp);
      await this.#commit(tmp, result.digest, result.size, options);
      return result;
    } catch (err) {
      await fh.close().catch(() => {});
      await rm(tmp, { force: true });
      rethrowAborted(err, options.signal);
    }
  }

  async writeBlobBytes(data: Uint8Array, options: IoOptions = {}): Promise<{ digest: Digest; size: number }> {
    throwIfAborted(options.signal);
    const digester = createDigester('sha256');
    digester.update(data);
    const result = { digest: digester.digest(), size: data.byteLength };
    await this.retain([result.digest], options);
    if (await this.#present(result.digest, result.size)) return result;
    const tmp = await this.#tempFile();
    try {
      const fh = await open(tmp, 'wx', 0o644);
      try {
        await fh.writeFile(data, { signal: options.signal });
        await fh.sync();
      } finally {
        await fh.close();
      }
      await this.#commit(tmp, result.digest, result.size, options);
      return result;
    } catch (err) {
      await rm(tmp, { force: true });
      rethrowAborted(err, options.signal);
    }
  }

  async readIndex(options: IoOptions = {}): Promise<Index> {
    throwIfAborted(options.signal);
    let bytes: Buffer;
    try {
      bytes = await readFile(join(this.dir, INDEX_FILE), { signal: options.signal });
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw notALayout(this.dir, 'index.json is missing', err);
      rethrowAborted(err, options.signal);
    }
    return parseIndex(bytes);
  }

  /** Replaces index.json atomically. */
  async writeIndex(index: Index, options: IoOptions = {}): Promise<void> {
    throwIfAborted(options.signal);
    await writeFileAtomic(join(this.dir, INDEX_FILE), JSON.stringify(index), options);
  }

  async image(desc: Descriptor, options: IoOptions = {}): Promise<Image> {
    return imageFromManifest(this, await this.readBlob(desc, options), desc);
  }

  async imageIndex(desc: Descriptor, options: IoOptions = {}): Promise<ImageIndex> {
    return indexFromManifest(this, await this.readBlob(desc, options), desc);
  }
}

/**
 * Blob files are written in large pieces: while one write is in the thread pool, the chunks that
 * arrive meanwhile (up to this much) are gathered and go out in one writev, instead of one write
 * and one thread-pool round trip per 64 KiB socket chunk.
 */
const FILE_WRITES = { highWaterMark: 1024 * 1024 } as const;

/**
 * Writes what `source` hands over into `fh` synchronously (a write to the page cache; no thread-pool
 * round trip per piece). Returns the bytes written.
 */
async function drainToFile(source: Readable & SinkSource, fh: FileHandle, signal?: AbortSignal): Promise<number> {
  const fd = fh.fd;
  let written = 0;
  const onAbort = (): void => {
    source.destroy(new AbortedError({ cause: signal?.reason }));
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await source.drainTo((piece) => {
      let at = 0;
      while (at < piece.byteLength) at += writeSync(fd, piece, at, piece.byteLength - at);
      written += piece.byteLength;
    });
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  return written;
}

async function fsyncFile(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

const LAYER_CONCURRENCY = 4;

async function writeImage(layout: OciLayout, image: Image, options: IoOptions): Promise<Descriptor> {
  const layers = await image.layers(options);
  let next = 0;
  const worker = async () => {
    while (next < layers.length) {
      const layer = layers[next++]!;
      throwIfAborted(options.signal);
      const digest = await layer.digest(options);
      if (await layout.reuse(digest, options)) continue;
      const size = await layer.size(options);
      await layout.writeBlob(await layer.compressed(options), { digest, size }, options);
    }
  };
  await Promise.all(Array.from({ length: Math.min(LAYER_CONCURRENCY, layers.length) }, worker));
  const configName = await image.configName(options);
  if (!(await layout.reuse(configName, options))) {
    const config = await image.rawConfigFile(options);
    await layout.writeBlob(bufferStream(config), { digest: configName, size: config.byteLength }, options);
  }
  return writeManifest(
    layout,
    await image.rawManifest(options),
    await image.mediaType(options),
    await image.digest(options),
    options,
  );
}

async function writeManifest(
  layout: OciLayout,
  raw: Buffer,
  mediaType: string,
  digest: Digest,
  options: IoOptions,
): Promise<Descriptor> {
  if (!(await layout.reuse(digest, options))) {
    await layout.writeBlob(bufferStream(raw), { digest, size: raw.byteLength }, options);
  }
  return { mediaType, digest, size: raw.byteLength };
}

function bufferStream(data: Buffer): Readable {
  return new PassThrough().end(data);
}

async function writeIndexTree(layout: OciLayout, index: ImageIndex, options: IoOptions): Promise<Descriptor> {
  for (const child of (await index.indexManifest(options)).manifests) {
    throwIfAborted(options.signal);
    // A child already present is walked too: its blobs are held, and any that went missing are
    // written again (checks of present blobs are a stat each).
    if (isIndexMediaType(child.mediaType)) {
      await writeIndexTree(layout, await index.imageIndex(child.digest, options), options);
    } else if (isManifestMediaType(child.mediaType)) {
      await writeImage(layout, await index.image(child.digest, options), options);
    } else {
      throw new GantryError(
        'UNSUPPORTED_MEDIA_TYPE',
        `index ${await index.digest(options)} has a child of unsupported media type ${child.mediaType}`,
        { phase: 'export', suggestion: 'only image manifests and indexes can be copied' },
      );
    }
  }
  return writeManifest(
    layout,
    await index.rawManifest(options),
    await index.mediaType(options),
    await index.digest(options),
    options,
  );
}

/** Copies every blob of an image or index (children first, manifests last) into the layout; returns its descriptor. */
export async function writeToLayout(
  layout: OciLayout,
  item: Image | ImageIndex,
  options: IoOptions = {},
): Promise<Descriptor> {
  throwIfAborted(options.signal);
  return isImageIndex(item) ? writeIndexTree(layout, item, options) : writeImage(layout, item, options);
}
