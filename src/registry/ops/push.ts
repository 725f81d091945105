/**
 * Pushing an image or index to a registry, children first: an image's blobs (layers and config,
 * at most `client.concurrency` at once, each skipped when present and mounted when it lives in
 * another repository of the same registry), then its manifest; an index's children (skipped when
 * the registry has them), then the index; then the tags. Blobs stream from wherever the image
 * lives (a layout, the store, another registry); nothing is held whole in memory but manifests
 * and configs. A push of what a tag already names (a no-change rebuild) is one HEAD per tag (a
 * build asks pushState first: the tag and the manifest together).
 */
import { GantryError, type IoOptions, throwIfAborted } from '../../errors.js';
import { type Image, type ImageIndex, isImageIndex } from '../../oci/image.js';
import { isIndexMediaType, isManifestMediaType } from '../../oci/parse.js';
import type { Descriptor, Manifest } from '../../oci/types.js';
import type { Reference } from '../../reference/index.js';
import { limiter } from '../../util/limiter.js';
import type { RegistryClient } from '../client/client.js';
import { formatRepo, type PushBlobResult, type Repo } from '../client/types.js';
import { type BlobOpener, bytesStream } from '../client/upload.js';
import { RemoteImage, remoteSource } from '../remote.js';
import { BlobProgress, shortDigest, TaskGroup } from './common.js';

export interface PushImageOptions extends IoOptions {
  /** More tags for the top manifest, besides the reference's own. */
  readonly tags?: readonly string[];
  /** What the registry holds, asked just before by `pushState` (the push does not ask again). */
  readonly state?: PushState;
}

/** What a registry repository already holds of an image about to be pushed. */
export interface PushState {
  /** The tags that already name the image. */
  readonly named: ReadonlySet<string>;
  /** Whether the repository has the image's manifest (and so everything it refers to). */
  readonly present: boolean;
}

/**
 * What `ref`'s repository holds of `digest`: whether its tag names it and whether it has the
 * manifest, two HEADs sent together (a no-change rebuild pushed under a new tag waits for one
 * round trip, not two). A failed check counts as no: the push then does the full work.
 */
export async function pushState(
  client: RegistryClient,
  ref: Reference,
  digest: string,
  o: IoOptions = {},
): Promise<PushState> {
  const repo: Repo = { registry: ref.registry, repository: ref.repository };
  const [named, has] = await Promise.all([
    namedAlready(client, repo, ref.tag !== undefined ? [ref.tag] : [], digest, o),
    present(client, { ...repo, digest }, o),
  ]);
  return { named, present: named.size > 0 || has };
}

interface BlobToPush {
  readonly kind: 'layer' | 'config';
  readonly desc: Descriptor;
  readonly open: BlobOpener;
  readonly source: Repo | undefined;
}

class Pusher {
  readonly #client: RegistryClient;
  readonly #repo: Repo;
  readonly #o: IoOptions;
  readonly #limit: <T>(task: () => Promise<T>) => Promise<T>;
  readonly #group: TaskGroup;
  readonly #blobs = new Map<string, Promise<PushBlobResult>>();
  readonly #manifests = new Map<string, Promise<Descriptor>>();

  constructor(client: RegistryClient, repo: Repo, o: IoOptions) {
    this.#client = client;
    this.#repo = repo;
    this.#group = new TaskGroup(o);
    this.#o = this.#group.options;
    this.#limit = limiter(client.concurrency);
  }

  async #blobsOf(image: Image, manifest: Manifest): Promise<BlobToPush[]> {
    const o = this.#o;
    const remote = remoteSource(image);
    if (remote !== undefined) {
      // Straight from the source repository by descriptor: works for artifacts whose config is not an image config.
      return [
        ...manifest.layers.map((desc) => ({ kind: 'layer' as const, desc, source: remote })),
        { kind: 'config' as const, desc: manifest.config, source: remote },
      ].map((b) => ({
        ...b,
        open: () =>
          image instanceof RemoteImage ? image.openBlob(b.desc, o) : this.#client.openBlob(remote, b.desc, o),
      }));
    }
    const layers = await image.layers(o);
    if (layers.length !== manifest.layers.length) {
      throw new GantryError(
        'LAYER_COUNT_MISMATCH',
        `image ${await image.digest(o)} lists ${manifest.layers.length} layers but has ${layers.length}`,
        { phase: 'push', suggestion: 'the image is malformed; rebuild it' },
      );
    }
    const out: BlobToPush[] = [];
    for (const [i, desc] of manifest.layers.entries()) {
      const layer = layers[i];
      if (layer === undefined || (await layer.digest(o)) !== desc.digest) {
        throw new GantryError('LAYER_MISMATCH', `layer ${i} of image ${await image.digest(o)} is not ${desc.digest}`, {
          phase: 'push',
          suggestion: 'the image is malformed; rebuild it',
        });
      }
      out.push({ kind: 'layer', desc, open: () => layer.compressed(o), source: remoteSource(layer) });
    }
    out.push({
      kind: 'config',
      desc: manifest.config,
      open: async () => bytesStream(await image.rawConfigFile(o)),
      source: undefined,
    });
    return out;
  }

  #blob(blob: BlobToPush): Promise<PushBlobResult> {
    let p = this.#blobs.get(blob.desc.digest);
    if (p === undefined) {
      p = this.#limit(() => this.#pushBlob(blob));
      this.#blobs.set(blob.desc.digest, p);
    }
    return p;
  }

  async #pushBlob(blob: BlobToPush): Promise<PushBlobResult> {
    throwIfAborted(this.#o.signal);
    const { desc, source } = blob;
    const progress = new BlobProgress(
      this.#client.progress,
      `push ${formatRepo(this.#repo)}@${desc.digest}`,
      `push ${blob.kind} ${shortDigest(desc.digest)}`,
      desc.size,
    );
    const locations = this.#client.blobLocations;
    let mountFrom =
      source !== undefined && source.registry === this.#repo.registry && source.repository !== this.#repo.repository
        ? source.repository
        : undefined;
    try {
      if (mountFrom === undefined && locations !== undefined) {
        // Another repository of this registry held the blob when last seen: mount from it (the
        // registry falls back to an upload in the same session if it no longer does).
        const known = await locations.candidates(this.#repo.registry, desc.digest).catch(() => []);
        mountFrom = known.find((r) => r !== this.#repo.repository);
      }
      const result = await this.#client.pushBlob(this.#repo, desc, blob.open, {
        ...this.#o,
        ...(mountFrom !== undefined ? { mountFrom } : {}),
        onProgress: (n) => progress.bytes(n),
      });
      if (result === 'uploaded') progress.bytes(desc.size);
      locations?.record(this.#repo, desc.digest);
      if (source !== undefined) locations?.record(source, desc.digest);
      progress.done(result === 'mounted' ? `mounted from ${mountFrom}` : result, result !== 'uploaded');
      return result;
    } catch (err) {
      progress.error(err);
      throw err;
    }
  }

  /** Pushes an image's blobs; returns its manifest descriptor (the manifest itself is not put). */
  async image(image: Image): Promise<Descriptor> {
    const o = this.#o;
    const manifest = await image.manifest(o);
    const blobs = await this.#blobsOf(image, manifest);
    await this.#group.all(blobs.map((b) => this.#blob(b)));
    return { mediaType: await image.mediaType(o), digest: await image.digest(o), size: await image.size(o) };
  }

  /** Pushes an index's children (each by digest); returns the index descriptor (the index itself is not put). */
  async index(index: ImageIndex): Promise<Descriptor> {
    const o = this.#o;
    const children = (await index.indexManifest(o)).manifests;
    await this.#group.all(children.map((child) => this.#child(index, child)));
    return { mediaType: await index.mediaType(o), digest: await index.digest(o), size: await index.size(o) };
  }

  #child(index: ImageIndex, child: Descriptor): Promise<Descriptor> {
    let p = this.#manifests.get(child.digest);
    if (p === undefined) {
      p = this.#pushChild(index, child);
      this.#manifests.set(child.digest, p);
    }
    return p;
  }

  async #pushChild(index: ImageIndex, child: Descriptor): Promise<Descriptor> {
    const o = this.#o;
    throwIfAborted(o.signal);
    // A manifest the registry has comes with everything it refers to.
    const there = await this.#client.headManifest({ ...this.#repo, digest: child.digest }, o);
    if (there !== undefined) return there;
    let item: Image | ImageIndex;
    if (isIndexMediaType(child.mediaType)) {
      item = await index.imageIndex(child.digest, o);
      await this.index(item);
    } else if (isManifestMediaType(child.mediaType)) {
      item = await index.image(child.digest, o);
      await this.image(item);
    } else {
      throw new GantryError(
        'UNSUPPORTED_MEDIA_TYPE',
        `index ${await index.digest(o)} has a child of unsupported media type ${child.mediaType}`,
        { phase: 'push', suggestion: 'only image manifests and indexes can be pushed' },
      );
    }
    return this.#client.putManifest(this.#repo, child.digest, await item.rawManifest(o), await item.mediaType(o), o);
  }
}

/**
 * Pushes an image or index to `ref`'s repository and tags it with `ref.tag` and `tags` (by digest
 * only when there is no tag). A reference with a digest must name exactly what is pushed.
 */
export async function pushImage(
  client: RegistryClient,
  ref: Reference,
  item: Image | ImageIndex,
  o: PushImageOptions = {},
): Promise<Descriptor> {
  throwIfAborted(o.signal);
  const repo: Repo = { registry: ref.registry, repository: ref.repository };
  const tags = [...new Set([...(ref.tag !== undefined ? [ref.tag] : []), ...(o.tags ?? [])])];
  const digest = await item.digest(o);
  if (ref.digest !== undefined && ref.digest !== digest) {
    throw new GantryError('DIGEST_MISMATCH', `cannot push ${digest} as ${ref.digest}`, {
      phase: 'push',
      suggestion: 'push to a tag, or to the digest of the image being pushed',
    });
  }
  // A push of what the registry already has (a no-change rebuild): one HEAD per tag instead of a
  // HEAD per blob and a PUT per tag. A manifest the registry has comes with everything it refers to.
  // With a state asked before (a build asks it to know whether the image is new), a new tag for
  // an image the repository has is its PUT alone.
  const current = o.state?.named ?? (await namedAlready(client, repo, tags, digest, o));
  const have =
    o.state?.present ?? (current.size > 0 || (tags.length === 0 && (await present(client, { ...repo, digest }, o))));
  let desc: Descriptor;
  if (have) {
    desc = { mediaType: await item.mediaType(o), digest, size: await item.size(o) };
  } else {
    const pusher = new Pusher(client, repo, o);
    try {
      desc = isImageIndex(item) ? await pusher.index(item) : await pusher.image(item);
    } finally {
      await client.blobLocations?.flush().catch(() => {});
    }
  }
  const raw = await item.rawManifest(o);
  if (tags.length === 0) return have ? desc : client.putManifest(repo, desc.digest, raw, desc.mediaType, o);
  for (const tag of tags) if (!current.has(tag)) await client.putManifest(repo, tag, raw, desc.mediaType, o);
  return desc;
}

/** Whether the registry has `ref` (a failed check counts as no: the push then does the full work). */
async function present(client: RegistryClient, ref: Reference, o: IoOptions): Promise<boolean> {
  try {
    return (await client.headManifest(ref, o)) !== undefined;
  } catch (err) {
    throwIfAborted(o.signal);
    if (!(err instanceof GantryError)) throw err;
    return false;
  }
}

/** The tags of `repo` that already name `digest`. */
async function namedAlready(
  client: RegistryClient,
  repo: Repo,
  tags: readonly string[],
  digest: string,
  o: IoOptions,
): Promise<Set<string>> {
  const out = new Set<string>();
  for (const tag of tags) {
    try {
      if ((await client.headManifest({ ...repo, tag }, o))?.digest === digest) out.add(tag);
    } catch (err) {
      throwIfAborted(o.signal);
      if (!(err instanceof GantryError)) throw err;
    }
  }
  return out;
}
