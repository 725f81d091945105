/**
 * Writes a docker-archive: the tar `docker save` produces and `docker load` and skopeo
 * `docker-archive:` read. manifest.json lists each image as {Config, RepoTags, Layers}; every layer
 * is stored uncompressed, so its sha256 is the diffID the config lists, which is what `docker load`
 * checks. Paths follow the content-addressed form of Docker 25 (`blobs/sha256/<hex>`).
 */
import type { Readable } from 'node:stream';
import { GantryError, type IoOptions, throwIfAborted } from '../../errors.js';
import { type Image, type ImageIndex, isImageIndex, type Layer } from '../../oci/image.js';
import { type Digest, MediaType } from '../../oci/types.js';
import type { TarInput } from '../tar/types.js';
import { tarStream } from '../tar/writer.js';
import type { BlobToWrite } from './blobs.js';
import { blobEntries, blobPathOf, bytesEntry, jsonBytes } from './entries.js';
import { dockerTag, familiarRepository, familiarTag } from './names.js';
import { type ArchiveDest, writeFileOutput } from './output.js';

export interface DockerArchiveItem {
  readonly image: Image;
  /** Full references with a tag; written as familiar RepoTags ('hello:dev'). */
  readonly names: readonly string[];
}

interface ManifestItem {
  Config: string;
  RepoTags: string[];
  Layers: string[];
}

const UNCOMPRESSED_LAYER_TYPES: ReadonlySet<string> = new Set([
  MediaType.OciLayer,
  'application/vnd.docker.image.rootfs.diff.tar',
]);

/** Bytes in a stream, read to the end (the stream verifies itself against its digest). */
async function countBytes(stream: Readable, options: IoOptions): Promise<number> {
  let size = 0;
  for await (const chunk of stream) {
    throwIfAborted(options.signal);
    size += (chunk as Buffer).byteLength;
  }
  return size;
}

/**
 * The tar header of a layer needs its uncompressed size before its first byte, and neither a
 * descriptor nor the gzip trailer (modulo 2^32) gives it reliably; a counting pass costs a second
 * decompression but keeps memory flat, where spooling would cost a copy of every layer on disk.
 */
async function uncompressedSize(layer: Layer, options: IoOptions): Promise<number> {
  if (UNCOMPRESSED_LAYER_TYPES.has(await layer.mediaType(options))) return layer.size(options);
  return countBytes(await layer.uncompressed(options), options);
}

function needsPlatform(): GantryError {
  return new GantryError(
    'DOCKER_ARCHIVE_NEEDS_PLATFORM',
    'a docker-archive holds single-platform images only, not an index',
    {
      phase: 'export',
      suggestion: 'pass --platform to pick one image of the index, or export an oci-archive instead',
    },
  );
}

/**
 * A docker-archive tar loadable by `docker load`: manifest.json, repositories, config blobs and one
 * uncompressed layer tar per layer. Atomic, streaming, and deterministic like writeOciArchive.
 */
export async function writeDockerArchive(
  items: readonly DockerArchiveItem[],
  dest: ArchiveDest,
  options: IoOptions = {},
): Promise<void> {
  throwIfAborted(options.signal);
  const io: IoOptions = { signal: options.signal };
  const blobs = new Map<Digest, BlobToWrite>();
  const manifest: ManifestItem[] = [];
  const byConfig = new Map<Digest, ManifestItem>();
  const repositories: Record<string, Record<string, string>> = {};

  for (const { image, names } of items) {
    if (isImageIndex(image as Image | ImageIndex)) throw needsPlatform();
    const configDigest = await image.configName(io);
    const config = await image.rawConfigFile(io);
    const layerPaths: string[] = [];
    for (const layer of await image.layers(io)) {
      const diffID = await layer.diffID(io);
      if (!blobs.has(diffID)) {
        const size = await uncompressedSize(layer, io);
        blobs.set(diffID, { digest: diffID, size, body: () => layer.uncompressed(io) });
      }
      layerPaths.push(blobPathOf(diffID));
    }
    if (!blobs.has(configDigest))
      blobs.set(configDigest, { digest: configDigest, size: config.byteLength, body: config });

    let item = byConfig.get(configDigest);
    if (item === undefined) {
      item = { Config: blobPathOf(configDigest), RepoTags: [], Layers: layerPaths };
      byConfig.set(configDigest, item);
      manifest.push(item);
    }
    const top = layerPaths.at(-1)?.split('/').at(-1);
    for (const name of names) {
      const ref = dockerTag(name);
      const repoTag = familiarTag(ref);
      if (!item.RepoTags.includes(repoTag)) item.RepoTags.push(repoTag);
      // `repositories` is the pre-1.10 index that maps a tag to its top layer; docker load
      // ignores it when manifest.json exists, older readers still want it.
      if (top !== undefined) {
        const repo = familiarRepository(ref);
        repositories[repo] = { ...repositories[repo], [ref.tag]: top };
      }
    }
  }

  const entries = function* (): Generator<TarInput> {
    yield* blobEntries([...blobs.values()]);
    yield bytesEntry('manifest.json', jsonBytes(manifest));
    yield bytesEntry('repositories', jsonBytes(repositories));
  };
  await writeFileOutput(dest, tarStream(entries(), io), io);
}
