/**
 * Pushing an artifact that refers to another manifest (`subject`): its blobs, the manifest by
 * digest, and, on registries without the referrers API (no OCI-Subject in the answer), an update
 * of the referrers tag index so that clients find it there.
 */
import { GantryError, type IoOptions, throwIfAborted } from '../../errors.js';
import { digestOf } from '../../oci/digest.js';
import type { Descriptor } from '../../oci/types.js';
import type { RegistryClient } from '../client/client.js';
import { referrerDescriptor } from '../client/referrers.js';
import type { Repo } from '../client/types.js';
import type { BlobOpener } from '../client/upload.js';

export interface ReferrerArtifact {
  /** The artifact's manifest (or index) bytes; its `subject` must be `subject`. */
  readonly manifest: Buffer;
  readonly mediaType: string;
  readonly subject: Descriptor;
  /** The referrers entry's artifactType; default the manifest's artifactType, else its config media type. */
  readonly artifactType?: string;
  /** Blobs the manifest refers to, pushed first (skipped when present). */
  readonly blobs?: readonly { readonly desc: Descriptor; readonly open: BlobOpener }[];
}

export async function pushReferrer(
  client: RegistryClient,
  repo: Repo,
  artifact: ReferrerArtifact,
  o: IoOptions = {},
): Promise<Descriptor> {
  throwIfAborted(o.signal);
  let subject: unknown;
  try {
    subject = (JSON.parse(artifact.manifest.toString('utf8')) as { subject?: { digest?: unknown } }).subject?.digest;
  } catch {
    subject = undefined;
  }
  if (subject !== artifact.subject.digest) {
    throw new GantryError(
      'SUBJECT_MISMATCH',
      `the artifact's subject is ${typeof subject === 'string' ? subject : 'missing'}, not ${artifact.subject.digest}`,
      { phase: 'push', suggestion: 'set the manifest field "subject" to the descriptor of the manifest it refers to' },
    );
  }
  for (const blob of artifact.blobs ?? []) await client.pushBlob(repo, blob.desc, blob.open, o);
  const digest = digestOf(artifact.manifest);
  const { descriptor, ociSubject } = await client.putManifestDetailed(
    repo,
    digest,
    artifact.manifest,
    artifact.mediaType,
    o,
  );
  if (ociSubject === undefined) {
    const entry = referrerDescriptor(artifact.manifest, descriptor, artifact.artifactType);
    await client.addToReferrersTag(repo, artifact.subject.digest, entry, o);
  }
  return descriptor;
}
