/**
 * Picks the few files an SBOM needs out of an image without extracting it: each layer's tar is
 * streamed once, bottom to top, and only the bodies of wanted paths are read (into memory, each
 * capped). Whiteouts, opaque directories and later entries at the same path are applied as
 * extraction would apply them, so what is returned is what the final filesystem holds.
 */
import { posix } from 'node:path';
import { GantryError, type IoOptions, throwIfAborted } from '../errors.js';
import { readTar } from '../layer/tar/reader.js';
import type { Image } from '../oci/image.js';

const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';
/** A package database bigger than this is refused rather than held in memory. */
export const MAX_SBOM_FILE = 64 * 1024 * 1024;

export interface PickedFile {
  readonly path: string;
  readonly data: Buffer;
  /** Index of the layer (0 = bottom) that holds the visible copy. */
  readonly layer: number;
}

async function readBody(body: AsyncIterable<unknown>, size: number, path: string): Promise<Buffer> {
  if (size > MAX_SBOM_FILE) {
    throw new GantryError(
      'SBOM_FILE_TOO_LARGE',
      `${path} in the image is ${size} bytes, over the SBOM reader's limit`,
      {
        phase: 'supply',
        suggestion: `an SBOM source file is read whole; files over ${MAX_SBOM_FILE} bytes are refused`,
      },
    );
  }
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Every file of the final filesystem of `image` whose path `want` accepts, with its content. */
export async function pickFiles(
  image: Image,
  want: (path: string) => boolean,
  options: IoOptions = {},
): Promise<PickedFile[]> {
  const files = new Map<string, PickedFile>();
  // Directories holding a picked file: only those need a scan when something hides them.
  const holders = new Set<string>();
  const hideUnder = (dir: string, below: number) => {
    if (dir !== '' && !holders.has(dir)) return;
    const prefix = dir === '' ? '' : `${dir}/`;
    for (const [p, f] of files) if (p.startsWith(prefix) && f.layer < below) files.delete(p);
  };
  const layers = await image.layers(options);
  for (const [index, layer] of layers.entries()) {
    throwIfAborted(options.signal);
    for await (const { entry, body } of readTar(await layer.uncompressed(options), options)) {
      const path = posix.normalize(entry.path).replace(/^(\.\/|\/)+/, '');
      const name = posix.basename(path);
      const dir = posix.dirname(path) === '.' ? '' : posix.dirname(path);
      if (name === OPAQUE) {
        hideUnder(dir, index);
        continue;
      }
      if (name.startsWith(WHITEOUT)) {
        const gone = dir === '' ? name.slice(WHITEOUT.length) : `${dir}/${name.slice(WHITEOUT.length)}`;
        const f = files.get(gone);
        if (f && f.layer < index) files.delete(gone);
        hideUnder(gone, index);
        continue;
      }
      if (entry.type !== 'directory') hideUnder(path, index + 1);
      if (!want(path)) {
        files.delete(path);
        continue;
      }
      if (entry.type === 'file') {
        files.set(path, { path, data: await readBody(body, entry.size, path), layer: index });
      } else if (entry.type === 'hardlink' && entry.linkname !== undefined) {
        const target = files.get(posix.normalize(entry.linkname).replace(/^(\.\/|\/)+/, ''));
        if (!target) {
          files.delete(path);
          continue;
        }
        files.set(path, { path, data: target.data, layer: index });
      } else {
        files.delete(path);
        continue;
      }
      for (let d = dir; d !== '' && !holders.has(d); d = posix.dirname(d) === '.' ? '' : posix.dirname(d))
        holders.add(d);
    }
  }
  return [...files.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
