/**
 * `flatten`: an image squashed into one layer (its filesystem as `export` computes it), pushed, as
 * `crane flatten` does. The config is kept but for its rootfs and history; an index is flattened
 * platform by platform (attestation manifests, which describe the unflattened images, are left
 * out). Without a tag the result is pushed by digest to the image's own repository.
 */
import { type IoOptions, throwIfAborted } from '../errors.js';
import { rootfsEntries } from '../layer/archive/rootfs.js';
import { type Image, type ImageIndex, isImageIndex } from '../oci/image.js';
import { defaultCreated } from '../oci/mutate.js';
import { isManifestMediaType } from '../oci/parse.js';
import { type Descriptor, type Digest, MediaType } from '../oci/types.js';
import {
  EditedImage,
  EditedIndex,
  io,
  openRemote,
  type Pushed,
  pushTo,
  rawConfigObject,
  type StagedBlobs,
  targetOf,
  withStaged,
} from './edit.js';
import { withLocalLayers } from './export.js';
import type { CommonOptions } from './session.js';

export interface FlattenOptions extends CommonOptions {
  /** Where to push: a tag of the same repository or a full reference (default: by digest, same repository). */
  readonly tag?: string;
}

async function flattenImage(image: Image, staged: StagedBlobs, o: IoOptions): Promise<Image> {
  const manifest = await image.manifest(o);
  const digest = await image.digest(o);
  const local = await withLocalLayers(image, staged, o);
  const manifestType = manifest.mediaType ?? MediaType.OciManifest;
  const { layer, descriptor, diffID } = await staged.layer(rootfsEntries(local, o), manifestType, o);
  const config = await rawConfigObject(image, o);
  const flat = {
    ...config,
    rootfs: { type: 'layers', diff_ids: [diffID] },
    history: [{ created: defaultCreated(), created_by: `gantry flatten ${digest}`, comment: 'gantry flatten' }],
  };
  return new EditedImage({ ...manifest, layers: [descriptor] }, flat, [layer]);
}

function isAttestation(d: Descriptor): boolean {
  return d.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest';
}

async function flattenIndex(index: ImageIndex, staged: StagedBlobs, o: IoOptions): Promise<ImageIndex> {
  const doc = await index.indexManifest(o);
  const manifests: Descriptor[] = [];
  const extra = new Map<Digest, Image>();
  for (const child of doc.manifests) {
    throwIfAborted(o.signal);
    if (isAttestation(child)) continue;
    if (!isManifestMediaType(child.mediaType)) {
      manifests.push(child);
      continue;
    }
    const flat = await flattenImage(await index.image(child.digest, o), staged, o);
    const digest = await flat.digest();
    extra.set(digest, flat);
    manifests.push({ ...child, mediaType: await flat.mediaType(), digest, size: await flat.size() });
  }
  return new EditedIndex({ ...doc, manifests }, index, extra);
}

/** Squashes a remote image (every platform of an index) into one layer and pushes it. */
export async function flatten(reference: string, options: FlattenOptions = {}): Promise<Pushed> {
  const { client, ref, item } = await openRemote(reference, options);
  const o = io(options);
  return withStaged(async (staged) => {
    const flat = isImageIndex(item) ? await flattenIndex(item, staged, o) : await flattenImage(item, staged, o);
    return pushTo(client, targetOf(ref, options.tag), flat, options);
  });
}
