/**
 * Registry bases kept in the store. A build keeps the manifests and the config of every registry
 * base it resolves (blobs of the store, by digest) and, for a tag, a note of the digest it named.
 * A later build asks the registry only for the tag's digest (one HEAD): a digest the store keeps is
 * read from the store, a moved tag is fetched as the first time. A reference by digest that the
 * store keeps needs no request at all. Layers are never read here: they come from the registry
 * when a step needs the files, and a push still mounts them from the base's repository.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { IoOptions } from '../errors.js';
import { digestOf } from '../oci/digest.js';
import type { Image, ImageIndex } from '../oci/image.js';
import { type Descriptor, type Digest, MediaType } from '../oci/types.js';
import { formatReference, type Reference } from '../reference/index.js';
import type { RegistryClient } from '../registry/client/client.js';
import { MAX_MANIFEST_SIZE } from '../registry/client/manifests.js';
import { keptRemoteImage, type ManifestKeeper } from '../registry/remote.js';
import type { Store } from '../store/store.js';
import { writeFileAtomic } from '../util/fs.js';
import { openRemote } from './source.js';

/** A kept manifest or config larger than this is not one (the registry client's bound for manifests). */
const MAX_KEPT = MAX_MANIFEST_SIZE;

/** The store as a keeper of manifests and configs. */
export function storeKeeper(store: Store): ManifestKeeper {
  return {
    // A manifest or config is a few KiB: read whole and hashed once, no stream (a no-change build
    // reads two of them, and a stream pipeline costs more than the read).
    async read(digest, o) {
      let bytes: Buffer;
      try {
        bytes = await readFile(store.layout.blobPath(digest), { signal: o?.signal });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw err;
      }
      if (bytes.byteLength > MAX_KEPT || digestOf(bytes) !== digest) {
        return undefined; // not what it is named (a torn write, a changed file): fetched again
      }
      return bytes;
    },
    async keep(bytes, o) {
      await store.layout.writeBlobBytes(bytes, o);
    },
  };
}

function notePath(store: Store, ref: Reference): string {
  const name = createHash('sha256').update(formatReference(ref)).digest('hex');
  return join(store.dir, 'cache', 'bases', name);
}

async function readNote(store: Store, ref: Reference): Promise<Digest | undefined> {
  const text = await readFile(notePath(store, ref), 'utf8').catch(() => undefined);
  return text !== undefined && /^sha256:[0-9a-f]{64}$/.test(text) ? text : undefined;
}

/** The descriptor of kept manifest bytes: the media type they declare, else what their shape says. */
function keptDescriptor(bytes: Buffer, digest: Digest): Descriptor {
  const json = JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown; manifests?: unknown };
  const mediaType =
    typeof json.mediaType === 'string'
      ? json.mediaType
      : Array.isArray(json.manifests)
        ? MediaType.OciIndex
        : MediaType.OciManifest;
  return { mediaType, digest, size: bytes.byteLength };
}

/** The digest a tag names (HEAD), asking the mirrors in order first; undefined when unknown. */
async function headRemote(
  client: RegistryClient,
  ref: Reference,
  mirrors: readonly string[],
  o: IoOptions,
): Promise<{ registry: string; digest: Digest } | undefined> {
  for (const registry of [...mirrors, ref.registry]) {
    try {
      const desc = await client.headManifest({ ...ref, registry }, o);
      if (desc) return { registry, digest: desc.digest };
    } catch (err) {
      if (o.signal?.aborted) throw err;
    }
  }
  return undefined;
}

/**
 * Opens a registry base, from the store when it keeps what the reference names now (see above).
 * `fresh` (`--no-cache`) fetches whatever the store keeps; what is fetched is kept either way.
 */
export async function openBase(
  client: RegistryClient,
  store: Store,
  ref: Reference,
  mirrors: readonly string[],
  o: IoOptions,
  fresh = false,
): Promise<Image | ImageIndex> {
  const keeper = storeKeeper(store);
  const known = ref.digest ?? (await readNote(store, ref));
  if (!fresh && known !== undefined) {
    const bytes = await keeper.read(known, o);
    if (bytes !== undefined) {
      const now =
        ref.digest !== undefined
          ? { registry: ref.registry, digest: known }
          : await headRemote(client, ref, mirrors, o);
      const kept = now === undefined ? undefined : now.digest === known ? bytes : await keeper.read(now.digest, o);
      if (now !== undefined && kept !== undefined) {
        const source = { registry: now.registry, repository: ref.repository };
        return keptRemoteImage(client, source, kept, keptDescriptor(kept, now.digest), keeper);
      }
    }
  }
  // Fresh: nothing read from the store, everything fetched is kept.
  const fetching = fresh ? { read: async () => undefined, keep: keeper.keep } : keeper;
  const item = await openRemote(client, ref, mirrors, o, fetching);
  if (ref.digest === undefined) {
    const digest = await item.digest(o);
    if (digest !== known) await writeFileAtomic(notePath(store, ref), digest, o);
  }
  return item;
}
