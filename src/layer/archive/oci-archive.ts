/**
 * Writes images and indexes as an OCI image layout: a tar of one (an oci-archive, what
 * `skopeo copy oci-archive:` and buildx `type=oci` produce) or a layout directory. index.json names
 * each item the way buildx and containerd do, so `ctr import` and `skopeo` find it by name.
 */
import { constants, createWriteStream } from 'node:fs';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type IoOptions, throwIfAborted } from '../../errors.js';
import type { Image, ImageIndex } from '../../oci/image.js';
import { blobFileOf } from '../../oci/stream.js';
import { type Descriptor, type Index, MediaType } from '../../oci/types.js';
import { mkdirp } from '../../util/fs.js';
import type { TarInput } from '../tar/types.js';
import { tarStream } from '../tar/writer.js';
import { BlobSet, type BlobToWrite, describe } from './blobs.js';
import { blobEntries, blobPathOf, bytesEntry, jsonBytes } from './entries.js';
import { ociNameAnnotations, REF_NAME_ANNOTATION } from './names.js';
import { type ArchiveDest, writeDirectoryOutput, writeFileOutput } from './output.js';

export interface NamedItem {
  readonly item: Image | ImageIndex;
  /** Full references, e.g. 'docker.io/library/hello:dev'. */
  readonly names: readonly string[];
  /** A ref.name written as given (skopeo's `oci-archive:FILE:REF`), for an item with no names. */
  readonly refName?: string;
  /** More annotations on every index.json entry of the item (`--annotation index-descriptor:K=V`). */
  readonly annotations?: Readonly<Record<string, string>>;
  /** An artifact (an SBOM, a signature) stored beside an image: its index.json entry says its type. */
  readonly artifactType?: string;
}

export interface OciArchiveOptions extends IoOptions {
  /** false writes a layout directory instead of a tar. Default true. */
  readonly tar?: boolean;
}

const OCI_LAYOUT = jsonBytes({ imageLayoutVersion: '1.0.0' });

/** One index.json entry per name; an unnamed item gets one entry without annotations. */
async function indexOf(items: readonly NamedItem[], blobs: BlobSet, options: IoOptions): Promise<Index> {
  const manifests: Descriptor[] = [];
  for (const { item, names, refName, annotations: extra, artifactType } of items) {
    await blobs.add(item, options);
    const desc = { ...(await describe(item, options)), ...(artifactType !== undefined ? { artifactType } : {}) };
    const more = extra ?? {};
    if (names.length === 0) {
      const a = { ...more, ...(refName === undefined ? {} : { [REF_NAME_ANNOTATION]: refName }) };
      manifests.push(Object.keys(a).length === 0 ? desc : { ...desc, annotations: a });
    }
    for (const name of names)
      manifests.push({ ...desc, annotations: { ...more, ...ociNameAnnotations(name, desc.digest) } });
  }
  return { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests };
}

async function writeBlobFile(dir: string, blob: BlobToWrite, options: IoOptions): Promise<void> {
  throwIfAborted(options.signal);
  const path = join(dir, blobPathOf(blob.digest));
  await mkdirp(join(path, '..'));
  const source = Buffer.isBuffer(blob.body) ? Readable.from([blob.body]) : await blob.body();
  const file = blobFileOf(source);
  if (file !== undefined) {
    // A blob this process just wrote and hashed (a layer it built): the kernel copies the file
    // (a reflink where the filesystem can), nothing is read or hashed again.
    source.destroy();
    await copyFile(file, path, constants.COPYFILE_FICLONE);
    return;
  }
  await pipeline(source, createWriteStream(path, { mode: 0o644 }), { signal: options.signal });
}

/**
 * An OCI archive (tar of an image layout) or, with `tar: false`, an image layout directory.
 * Atomic: written under a temp name beside `dest` and renamed; nothing is left behind on failure
 * or abort. The same items give the same bytes.
 */
export async function writeOciArchive(
  items: readonly NamedItem[],
  dest: ArchiveDest,
  options: OciArchiveOptions = {},
): Promise<void> {
  throwIfAborted(options.signal);
  const io: IoOptions = { signal: options.signal };
  const blobs = new BlobSet();
  const index = jsonBytes(await indexOf(items, blobs, io));
  if (options.tar === false) {
    await writeDirectoryOutput(
      dest,
      async (dir) => {
        await mkdir(join(dir, 'blobs'), { mode: 0o755 });
        for (const blob of blobs.sorted()) await writeBlobFile(dir, blob, io);
        await writeFile(join(dir, 'oci-layout'), OCI_LAYOUT, { mode: 0o644 });
        await writeFile(join(dir, 'index.json'), index, { mode: 0o644 });
      },
      io,
    );
    return;
  }
  const entries = function* (): Generator<TarInput> {
    yield* blobEntries(blobs.sorted());
    yield bytesEntry('index.json', index);
    yield bytesEntry('oci-layout', OCI_LAYOUT);
  };
  await writeFileOutput(dest, tarStream(entries(), io), io);
}
