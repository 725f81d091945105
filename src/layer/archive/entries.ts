/**
 * Tar entries for the files of an archive (not of a layer): fixed owner, modes and a zero mtime,
 * so the same content always gives the same archive bytes.
 */
import { parseDigest } from '../../oci/digest.js';
import type { TarInput } from '../tar/types.js';
import type { BlobToWrite } from './blobs.js';

export function dirEntry(path: string): TarInput {
  return { entry: { path, type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0 } };
}

export function bytesEntry(path: string, data: Buffer): TarInput {
  return { entry: { path, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: data.byteLength }, body: data };
}

export function blobPathOf(digest: string): string {
  const { algorithm, hex } = parseDigest(digest);
  return `blobs/${algorithm}/${hex}`;
}

/** `blobs/`, one directory per algorithm, then each blob, in path order. */
export function* blobEntries(blobs: readonly BlobToWrite[]): Generator<TarInput> {
  const sorted = [...blobs].sort((a, b) => {
    const pa = blobPathOf(a.digest);
    const pb = blobPathOf(b.digest);
    return pa < pb ? -1 : pa > pb ? 1 : 0;
  });
  yield dirEntry('blobs');
  let algorithmDir = '';
  for (const blob of sorted) {
    const path = blobPathOf(blob.digest);
    const dir = path.slice(0, path.lastIndexOf('/'));
    if (dir !== algorithmDir) {
      algorithmDir = dir;
      yield dirEntry(dir);
    }
    const { body } = blob;
    yield {
      entry: { path, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: blob.size },
      body: Buffer.isBuffer(body) ? body : () => body(),
    };
  }
}

/** Compact JSON: the bytes are hashed, so they must not depend on formatting choices. */
export function jsonBytes(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}
