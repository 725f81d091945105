/**
 * Registry objects by name, without moving images: `tag` (a new tag for a manifest, in the same
 * repository, as `crane tag` does: the manifest bytes are put again under the new tag, no blob
 * moves) and `blob` (one blob by `REPO@DIGEST`, streamed and verified against its digest).
 */
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AbortedError } from '../errors.js';
import { formatReference, type Reference } from '../reference/index.js';
import { CountingStream } from '../registry/client/counting.js';
import { step } from '../util/progress.js';
import { io, type Pushed, usage } from './edit.js';
import { callerReference } from './input.js';
import { type CommonOptions, sessionOf } from './session.js';

/** Tags the manifest `reference` names with `newTag` in the same repository. */
export async function tag(reference: string | Reference, newTag: string, options: CommonOptions = {}): Promise<Pushed> {
  const ref = callerReference(reference);
  if (newTag.includes('/') || newTag.includes('@') || newTag.includes(':')) {
    throw usage(
      `${JSON.stringify(newTag)} is not a tag`,
      'give a tag of the same repository (e.g. v2); to copy to another repository use gantry copy',
    );
  }
  const target = callerReference(`${ref.registry}/${ref.repository}:${newTag}`);
  const client = await sessionOf(options).client(options.progress);
  const o = io(options);
  const sink = options.progress ?? (() => {});
  return step(sink, `tag ${formatReference(target)}`, `tag ${formatReference(target)}`, async () => {
    const { bytes, descriptor } = await client.getManifest(ref, o);
    await client.putManifest(target, newTag, bytes, descriptor.mediaType, o);
    return { reference: formatReference(target), digest: descriptor.digest, descriptor };
  });
}

export interface BlobRead {
  readonly digest: string;
  /** Bytes written. */
  readonly size: number;
}

/**
 * Writes the blob `reference` (`REGISTRY/REPO@sha256:...`) to `destination` (left open), verified
 * while streaming: a blob whose bytes do not match its digest ends in an error (DIGEST_MISMATCH)
 * once the last byte is read, so the caller must not trust what was written before that.
 */
export async function blob(
  reference: string | Reference,
  destination: Writable,
  options: CommonOptions = {},
): Promise<BlobRead> {
  const ref = callerReference(reference, { defaultTag: '' });
  if (ref.digest === undefined) {
    throw usage(
      `${typeof reference === 'string' ? reference : formatReference(ref)} names no blob`,
      'give REGISTRY/REPO@sha256:DIGEST (gantry inspect --raw lists the digests)',
    );
  }
  const client = await sessionOf(options).client(options.progress);
  const o = io(options);
  const stream = await client.openBlob(
    { registry: ref.registry, repository: ref.repository },
    { digest: ref.digest },
    o,
  );
  const counted = new CountingStream(undefined);
  try {
    await pipeline(stream, counted, destination, { ...o, end: false });
  } catch (err) {
    if (options.signal?.aborted) throw new AbortedError({ cause: err });
    throw err;
  }
  return { digest: ref.digest, size: counted.bytes };
}
