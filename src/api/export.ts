/**
 * `export`: the flattened filesystem of an image (layers applied in order, whiteouts applied,
 * later layers win) as one tar, to a file or a stream, as `crane export` does. The same path
 * rules as extraction apply (src/layer/archive/confine.ts): no `..`, absolute names taken
 * relative to the root, nothing written through a symlink out of it. Remote layers are
 * downloaded once (verified) into a private temp directory, since the merge reads them twice.
 */
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type ImageLocation, openImage } from '../engine/source.js';
import { AbortedError, type IoOptions } from '../errors.js';
import { writeFileOutput } from '../layer/archive/output.js';
import { rootfsEntries } from '../layer/archive/rootfs.js';
import { tarStream } from '../layer/tar/writer.js';
import type { Image } from '../oci/image.js';
import { hostPlatform } from '../oci/platform.js';
import { step } from '../util/progress.js';
import { EditedImage, io, rawConfigObject, type StagedBlobs, withStaged } from './edit.js';
import { callerLocation } from './input.js';
import { type CommonOptions, sessionOf } from './session.js';
import { locationsFor, type PlatformOption, pickPlatform, platformOf } from './transfer.js';

export interface ExportOptions extends CommonOptions, PlatformOption {}

export interface Exported {
  /** The digest of the image whose filesystem was written. */
  readonly digest: string;
}

/** The image with its layers read from local copies (remote ones downloaded once into `staged`). */
export async function withLocalLayers(image: Image, staged: StagedBlobs, o: IoOptions): Promise<Image> {
  const layers = await Promise.all((await image.layers(o)).map((l) => staged.local(l, o)));
  return new EditedImage(await image.manifest(o), await rawConfigObject(image, o), layers);
}

/** Opens `image` anywhere (registry, `oci:`, `store:`...), narrowed to one platform. */
export async function openSingle<T>(
  image: string | ImageLocation,
  options: CommonOptions & PlatformOption,
  fn: (image: Image) => Promise<T>,
): Promise<T> {
  const loc = callerLocation(image);
  const lc = await locationsFor(sessionOf(options), options.progress, loc);
  const src = await openImage(loc, lc, io(options));
  try {
    const platform = platformOf(options.platform);
    return await fn((await pickPlatform(src.item, platform ?? hostPlatform(), false, options.signal)) as Image);
  } finally {
    await src.close();
  }
}

/**
 * Writes the filesystem of `image` as a tar to `destination`: a file path (written atomically) or
 * a stream (left open: the caller ends it).
 */
export function exportFilesystem(
  image: string | ImageLocation,
  destination: string | Writable,
  options: ExportOptions = {},
): Promise<Exported> {
  const o = io(options);
  const sink = options.progress ?? (() => {});
  return openSingle(image, options, async (img) => {
    const digest = await img.digest(o);
    await step(sink, `export ${digest}`, `export filesystem of ${digest.slice(7, 19)}`, () =>
      withStaged(async (staged) => {
        const tar = tarStream(rootfsEntries(await withLocalLayers(img, staged, o), o), o);
        if (typeof destination === 'string') {
          await writeFileOutput(destination, tar, o);
          return;
        }
        try {
          await pipeline(tar, destination, { ...o, end: false });
        } catch (err) {
          if (options.signal?.aborted) throw new AbortedError({ cause: err });
          throw err;
        }
      }),
    );
    return { digest };
  });
}
