/**
 * Imports images from files into an OCI layout: an image layout directory, an oci-archive, or a
 * docker-archive (plain or compressed), told apart by what they contain, not by their names.
 * Everything is staged and verified first (every blob against its digest, every docker layer
 * against its diffID) and only then moved into the target, so a bad archive leaves nothing behind.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { PassThrough, Readable, Transform, type TransformCallback, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  AbortedError,
  DigestMismatchError,
  GantryError,
  InvalidContentError,
  type IoOptions,
  throwIfAborted,
  UnsafePathError,
} from '../../errors.js';
import { createDecompressor, decompressByMagic, detectCompression, MAGIC_LENGTH } from '../../oci/compression.js';
import { createDigester, digestStream, parseDigest } from '../../oci/digest.js';
import type { OciLayout } from '../../oci/layout.js';
import { isIndexMediaType, isManifestMediaType, parseImageConfig, parseIndex, parseManifest } from '../../oci/parse.js';
import { type Descriptor, type Digest, type Manifest, MediaType } from '../../oci/types.js';
import { formatReference, parseReference } from '../../reference/index.js';
import { mkdirp } from '../../util/fs.js';
import { createParallelGzip } from '../gzip/parallel.js';
import { blobPathOf, jsonBytes } from './entries.js';
import { namesFromAnnotations } from './names.js';
import { rethrowAbort } from './output.js';
import {
  type ArchiveFiles,
  archivePath,
  DirectoryArchiveFiles,
  readStaged,
  type StagedFile,
  stageStream,
  TarArchiveFiles,
} from './staging.js';

export interface LoadedItem {
  readonly descriptor: Descriptor;
  /** Full references, e.g. 'docker.io/library/hello:dev'. */
  readonly names: readonly string[];
}

function notAnArchive(source: string, why: string, cause?: unknown): GantryError {
  return new GantryError('NOT_AN_IMAGE_ARCHIVE', `${source} is not an image archive: ${why}`, {
    phase: 'import',
    suggestion: 'pass an OCI layout directory, an oci-archive or a docker-archive (docker save) tar',
    cause,
  });
}

function invalidDockerArchive(why: string): InvalidContentError {
  return new InvalidContentError('INVALID_DOCKER_ARCHIVE', `invalid docker-archive: ${why}`, {
    phase: 'import',
    suggestion: 'the archive is corrupt or was not written by docker save or a compatible tool',
  });
}

function missing(path: string): GantryError {
  return new GantryError('BLOB_NOT_FOUND', `the archive has no ${path}`, {
    phase: 'import',
    suggestion: 'the archive is incomplete; export it again',
  });
}

function isSystemError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && typeof (err as NodeJS.ErrnoException).syscall === 'string';
}

/** Verified blobs waiting to be moved into the target; manifests go last. */
class Staged {
  readonly content = new Map<Digest, StagedFile>();
  readonly manifests = new Map<Digest, StagedFile>();
  readonly #dir: string;
  #n = 0;

  constructor(dir: string) {
    this.#dir = dir;
  }

  has(digest: Digest): boolean {
    return this.content.has(digest) || this.manifests.has(digest);
  }

  /** A new file in the staging directory, for content made here (converted layers, manifests). */
  newFile(): string {
    return join(this.#dir, `n${this.#n++}`);
  }

  async commit(target: OciLayout, options: IoOptions): Promise<void> {
    for (const [digest, staged] of [...this.content, ...this.manifests]) {
      throwIfAborted(options.signal);
      if (await target.hasBlob(digest)) continue;
      const fh = await open(staged.file, 'r');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
      const dest = target.blobPath(digest);
      await mkdirp(join(dest, '..'));
      await rename(staged.file, dest);
    }
  }
}

/** Checks a staged file against a descriptor (size and digest). */
async function verifyStaged(
  staged: StagedFile,
  desc: Pick<Descriptor, 'digest' | 'size'>,
  path: string,
  options: IoOptions,
): Promise<void> {
  if (staged.size !== desc.size) {
    throw new InvalidContentError(
      'SIZE_MISMATCH',
      `${path} size mismatch: expected ${desc.size} bytes, got ${staged.size}`,
      {
        phase: 'import',
        suggestion: 'the archive is corrupt or was changed; export it again',
      },
    );
  }
  const { algorithm } = parseDigest(desc.digest);
  const actual =
    algorithm === 'sha256'
      ? staged.sha256
      : (await digestStream(createReadStream(staged.file), { algorithm, signal: options.signal })).digest;
  if (actual !== desc.digest) {
    throw new DigestMismatchError(desc.digest, actual, path, {
      phase: 'import',
      suggestion: 'the archive is corrupt or was tampered with; do not use it',
    });
  }
}

// ---- OCI image layout ---------------------------------------------------------------------

async function loadOciLayout(files: ArchiveFiles, staged: Staged, options: IoOptions): Promise<LoadedItem[]> {
  const layoutFile = await files.stage('oci-layout', options);
  if (layoutFile === undefined) throw missing('oci-layout');
  let version: unknown;
  try {
    version = (
      JSON.parse((await readStaged(layoutFile, 'oci-layout')).toString('utf8')) as { imageLayoutVersion?: unknown }
    ).imageLayoutVersion;
  } catch (err) {
    throw new InvalidContentError('MALFORMED_JSON', `oci-layout is not valid JSON`, {
      phase: 'import',
      suggestion: 'the archive is corrupt; export it again',
      cause: err,
    });
  }
  if (typeof version !== 'string') {
    throw new InvalidContentError('INVALID_OCI_LAYOUT', 'oci-layout has no imageLayoutVersion', {
      phase: 'import',
      suggestion: 'the archive is corrupt; export it again',
    });
  }
  const indexFile = await files.stage('index.json', options);
  if (indexFile === undefined) throw missing('index.json');
  const index = parseIndex(await readStaged(indexFile, 'index.json'));

  const blob = async (desc: Descriptor): Promise<StagedFile | undefined> => {
    throwIfAborted(options.signal);
    const path = blobPathOf(desc.digest);
    const file = await files.stage(path, options);
    if (file === undefined) {
      // Foreign layers are fetched from their URLs, never shipped in archives.
      if (desc.urls !== undefined && desc.urls.length > 0) return undefined;
      throw missing(path);
    }
    await verifyStaged(file, desc, path, options);
    return file;
  };

  const walk = async (desc: Descriptor): Promise<void> => {
    if (staged.has(desc.digest)) return;
    const file = await blob(desc);
    if (file === undefined) return;
    const { mediaType } = desc;
    if (!isIndexMediaType(mediaType) && !isManifestMediaType(mediaType)) {
      staged.content.set(desc.digest, file);
      return;
    }
    const bytes = await readStaged(file, `manifest ${desc.digest}`);
    staged.manifests.set(desc.digest, file);
    if (isIndexMediaType(mediaType)) {
      for (const child of parseIndex(bytes, { digest: desc.digest, size: desc.size }).manifests) await walk(child);
      return;
    }
    const manifest: Manifest = parseManifest(bytes, { digest: desc.digest, size: desc.size });
    for (const child of [manifest.config, ...manifest.layers]) {
      if (staged.has(child.digest)) continue;
      const childFile = await blob(child);
      if (childFile !== undefined) staged.content.set(child.digest, childFile);
    }
  };

  const items = new Map<Digest, { descriptor: Descriptor; names: string[] }>();
  for (const desc of index.manifests) {
    await walk(desc);
    let item = items.get(desc.digest);
    if (item === undefined) {
      const descriptor: Descriptor = {
        mediaType: desc.mediaType,
        digest: desc.digest,
        size: desc.size,
        ...(desc.platform === undefined ? {} : { platform: desc.platform }),
      };
      item = { descriptor, names: [] };
      items.set(desc.digest, item);
    }
    for (const name of namesFromAnnotations(desc.annotations)) if (!item.names.includes(name)) item.names.push(name);
  }
  return [...items.values()];
}

// ---- docker-archive ------------------------------------------------------------------------

interface DockerManifestItem {
  readonly Config: string;
  readonly RepoTags: readonly string[];
  readonly Layers: readonly string[];
}

function parseDockerManifest(bytes: Buffer): DockerManifestItem[] {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw invalidDockerArchive('manifest.json is not valid JSON');
  }
  if (!Array.isArray(value) || value.length === 0) throw invalidDockerArchive('manifest.json is not a list of images');
  return value.map((raw: unknown, i) => {
    const item = raw as Record<string, unknown> | null;
    const tags = item?.RepoTags ?? [];
    if (
      typeof item?.Config !== 'string' ||
      !Array.isArray(item.Layers) ||
      !item.Layers.every((l) => typeof l === 'string') ||
      !Array.isArray(tags) ||
      !tags.every((t) => typeof t === 'string')
    ) {
      throw invalidDockerArchive(`manifest.json entry ${i} needs Config, Layers and RepoTags of strings`);
    }
    return { Config: item.Config, RepoTags: tags as string[], Layers: item.Layers as string[] };
  });
}

/** The sha256 a docker-archive file name claims, when it follows a known naming scheme. */
function claimedDigest(path: string): Digest | undefined {
  const m = /^(?:sha256:)?([a-f0-9]{64})(?:\.json)?$/.exec(posix.basename(path));
  return m?.[1] === undefined ? undefined : `sha256:${m[1]}`;
}

class Tap extends Transform {
  readonly digester = createDigester('sha256');
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.digester.update(chunk);
    callback(null, chunk);
  }
}

async function readHead(file: string): Promise<Buffer> {
  const fh = await open(file, 'r');
  try {
    const head = Buffer.alloc(MAGIC_LENGTH);
    const { bytesRead } = await fh.read(head, 0, MAGIC_LENGTH, 0);
    return head.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

function corruptLayer(path: string, cause: unknown): InvalidContentError {
  return new InvalidContentError('CORRUPT_LAYER', `layer ${path} cannot be decompressed`, {
    phase: 'import',
    suggestion: 'the archive is corrupt or was tampered with; export it again',
    cause,
  });
}

/**
 * A docker-archive layer as a gzip blob. A gzip layer keeps its bytes (and so its digest); any
 * other layer is compressed here. Either way its tar must hash to the diffID the config lists.
 */
async function gzipLayer(
  file: StagedFile,
  diffID: Digest,
  path: string,
  staged: Staged,
  options: IoOptions,
): Promise<{ digest: Digest; size: number }> {
  const kind = detectCompression(await readHead(file.file));
  const decompress = createDecompressor(kind) ?? new PassThrough();
  const tar = new Tap();
  const out = kind === 'gzip' ? undefined : { file: staged.newFile(), tap: new Tap() };
  try {
    if (out === undefined) {
      await pipeline(createReadStream(file.file), decompress, tar, new Writable({ write: (_c, _e, done) => done() }), {
        signal: options.signal,
      });
    } else {
      await pipeline(
        createReadStream(file.file),
        decompress,
        tar,
        createParallelGzip(),
        out.tap,
        createWriteStream(out.file, { flags: 'wx', mode: 0o644 }),
        { signal: options.signal },
      );
    }
  } catch (err) {
    if (options.signal?.aborted) throw new AbortedError({ cause: options.signal.reason });
    if (GantryError.is(err) || isSystemError(err)) throw err;
    throw corruptLayer(path, err);
  }
  const actual = tar.digester.digest();
  if (actual !== diffID) {
    throw new DigestMismatchError(diffID, actual, `layer ${path} (diffID)`, {
      phase: 'import',
      suggestion: 'the archive is corrupt or was tampered with; do not use it',
    });
  }
  if (out === undefined) {
    staged.content.set(file.sha256, file);
    return { digest: file.sha256, size: file.size };
  }
  const result = { digest: out.tap.digester.digest(), size: out.tap.digester.size };
  staged.content.set(result.digest, { file: out.file, size: result.size, sha256: result.digest });
  return result;
}

async function stageDockerFile(
  files: ArchiveFiles,
  rawPath: string,
  what: string,
  options: IoOptions,
): Promise<{ path: string; file: StagedFile }> {
  const path = archivePath(rawPath, `${what} path in manifest.json`);
  const file = await files.stage(path, options);
  if (file === undefined) throw missing(path);
  return { path, file };
}

async function loadDockerArchive(files: ArchiveFiles, staged: Staged, options: IoOptions): Promise<LoadedItem[]> {
  const manifestFile = await files.stage('manifest.json', options);
  if (manifestFile === undefined) throw missing('manifest.json');
  const entries = parseDockerManifest(await readStaged(manifestFile, 'manifest.json'));
  const layerCache = new Map<string, { digest: Digest; size: number }>();
  const items = new Map<Digest, { descriptor: Descriptor; names: string[] }>();

  for (const entry of entries) {
    throwIfAborted(options.signal);
    // Every path is checked before any content is read: a hostile entry fails fast.
    for (const p of [entry.Config, ...entry.Layers]) archivePath(p, 'path in manifest.json');
    const { path: configPath, file: configFile } = await stageDockerFile(files, entry.Config, 'Config', options);
    const claimed = claimedDigest(configPath);
    if (claimed !== undefined && claimed !== configFile.sha256) {
      throw new DigestMismatchError(claimed, configFile.sha256, `config ${configPath}`, {
        phase: 'import',
        suggestion: 'the archive is corrupt or was tampered with; do not use it',
      });
    }
    const config = parseImageConfig(await readStaged(configFile, `config ${configPath}`));
    const diffIDs = config.rootfs.diff_ids;
    if (diffIDs.length !== entry.Layers.length) {
      throw invalidDockerArchive(
        `config ${configPath} lists ${diffIDs.length} layers but manifest.json ${entry.Layers.length}`,
      );
    }
    staged.content.set(configFile.sha256, configFile);

    const layers: Descriptor[] = [];
    for (const [i, rawPath] of entry.Layers.entries()) {
      const diffID = diffIDs[i] as Digest;
      const { path, file } = await stageDockerFile(files, rawPath, 'layer', options);
      const key = `${file.file}\n${diffID}`;
      let blob = layerCache.get(key);
      if (blob === undefined) {
        blob = await gzipLayer(file, diffID, path, staged, options);
        layerCache.set(key, blob);
      }
      layers.push({ mediaType: MediaType.OciLayerGzip, digest: blob.digest, size: blob.size });
    }

    const manifest = jsonBytes({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, digest: configFile.sha256, size: configFile.size },
      layers,
    });
    const manifestStaged = await stageStream(Readable.from([manifest]), staged.newFile(), options);
    staged.manifests.set(manifestStaged.sha256, manifestStaged);

    let item = items.get(manifestStaged.sha256);
    if (item === undefined) {
      item = {
        descriptor: { mediaType: MediaType.OciManifest, digest: manifestStaged.sha256, size: manifestStaged.size },
        names: [],
      };
      items.set(manifestStaged.sha256, item);
    }
    for (const tag of entry.RepoTags) {
      const name = formatReference(parseReference(tag));
      if (!item.names.includes(name)) item.names.push(name);
    }
  }
  return [...items.values()];
}

// ---- entry point ---------------------------------------------------------------------------

async function openFiles(source: string, stagingDir: string, options: IoOptions): Promise<ArchiveFiles> {
  let isDir: boolean;
  try {
    isDir = (await stat(source)).isDirectory();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new GantryError('ARCHIVE_NOT_FOUND', `${source} does not exist`, {
        phase: 'import',
        suggestion: 'check the path of the archive',
        cause: err,
      });
    }
    throw err;
  }
  if (isDir) return DirectoryArchiveFiles.open(source, stagingDir);
  let plain: Readable | undefined;
  try {
    plain = await decompressByMagic(createReadStream(source), options);
    return await TarArchiveFiles.read(plain, stagingDir, options);
  } catch (err) {
    plain?.destroy();
    if (options.signal?.aborted) throw new AbortedError({ cause: options.signal.reason });
    if (err instanceof UnsafePathError || (GantryError.is(err) && err.code === 'UNSAFE_PATH') || isSystemError(err)) {
      throw err;
    }
    throw notAnArchive(source, 'it is not a (compressed) tar', err);
  }
}

/**
 * Imports an OCI layout directory, an oci-archive or a docker-archive into `target`, verifying
 * every blob. Names come from `io.containerd.image.name`, else a `ref.name` that is a full
 * reference, or from docker RepoTags. Nothing is added to `target`'s index.json: naming is the
 * caller's business.
 */
export async function loadArchive(source: string, target: OciLayout, options: IoOptions = {}): Promise<LoadedItem[]> {
  throwIfAborted(options.signal);
  const io: IoOptions = { signal: options.signal };
  const stagingDir = join(target.dir, `.load-${process.pid}-${randomBytes(6).toString('hex')}`);
  await mkdir(stagingDir, { mode: 0o700 });
  try {
    const files = await openFiles(source, stagingDir, io);
    const staged = new Staged(stagingDir);
    let items: LoadedItem[];
    if ((await files.has('oci-layout')) && (await files.has('index.json')))
      items = await loadOciLayout(files, staged, io);
    else if (await files.has('manifest.json')) items = await loadDockerArchive(files, staged, io);
    else throw notAnArchive(source, 'it has neither oci-layout and index.json nor manifest.json');
    await staged.commit(target, io);
    return items;
  } catch (err) {
    rethrowAbort(err, options.signal);
  } finally {
    await rm(stagingDir, { recursive: true, force: true });
  }
}
