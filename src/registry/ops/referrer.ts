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
  return (await pushReferrers(client, repo, [artifact], o))[0] as Descriptor;
}

/**
 * Several artifacts at once (a build's SBOM and provenance): their blobs (each once) and manifests
 * in parallel, then one update of each subject's referrers tag index where the registry needs it,
 * instead of a read and a write of that index per artifact.
 */
export async function pushReferrers(
  client: RegistryClient,
  repo: Repo,
  artifacts: readonly ReferrerArtifact[],
  o: IoOptions = {},
): Promise<Descriptor[]> {
  throwIfAborted(o.signal);
  for (const a of artifacts) checkSubject(a);
  const blobs = new Map<string, { readonly desc: Descriptor; readonly open: BlobOpener }>();
  for (const a of artifacts) for (const b of a.blobs ?? []) blobs.set(b.desc.digest, b);
  await Promise.all([...blobs.values()].map((b) => client.pushBlob(repo, b.desc, b.open, o)));
  const put = await Promise.all(
    artifacts.map((a) => client.putManifestDetailed(repo, digestOf(a.manifest), a.manifest, a.mediaType, o)),
  );
  const fallback = new Map<string, Descriptor[]>();
  put.forEach(({ descriptor, ociSubject }, i) => {
    if (ociSubject !== undefined) return;
    const a = artifacts[i] as ReferrerArtifact;
    const entry = referrerDescriptor(a.manifest, descriptor, a.artifactType);
    fallback.set(a.subject.digest, [...(fallback.get(a.subject.digest) ?? []), entry]);
  });
  for (const [subject, entries] of fallback) await client.addToReferrersTag(repo, subject, entries, o);
  return put.map((p) => p.descriptor);
}

function checkSubject(artifact: ReferrerArtifact): void {
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
}
