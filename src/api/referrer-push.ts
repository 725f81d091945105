/** Pushing an artifact (SBOM, provenance, signature) as a referrer of its subject into a repository. */
import { Readable } from 'node:stream';
import type { Artifact } from '../attest/artifact.js';
import type { IoOptions } from '../errors.js';
import type { Descriptor } from '../oci/types.js';
import type { Reference } from '../reference/index.js';
import type { RegistryClient } from '../registry/client/client.js';
import { pushReferrer, pushReferrers } from '../registry/ops/referrer.js';

function referrerArtifact(artifact: Artifact) {
  return {
    manifest: artifact.manifest,
    mediaType: artifact.descriptor.mediaType,
    subject: artifact.subject,
    artifactType: artifact.artifactType,
    blobs: artifact.blobs.map((b) => ({ desc: b.desc, open: () => Readable.from([b.bytes]) })),
  };
}

/** Pushes several artifacts into `ref`'s repository at once (see `pushReferrers`). */
export function pushArtifactsTo(
  client: RegistryClient,
  ref: Reference,
  artifacts: readonly Artifact[],
  options: IoOptions = {},
): Promise<Descriptor[]> {
  return pushReferrers(
    client,
    { registry: ref.registry, repository: ref.repository },
    artifacts.map(referrerArtifact),
    options,
  );
}

/** Pushes `artifact` into `ref`'s repository; on registries without the referrers API the tag schema index is updated. */
export function pushArtifactTo(
  client: RegistryClient,
  ref: Reference,
  artifact: Artifact,
  options: IoOptions = {},
): Promise<Descriptor> {
  return pushReferrer(
    client,
    { registry: ref.registry, repository: ref.repository },
    referrerArtifact(artifact),
    options,
  );
}
