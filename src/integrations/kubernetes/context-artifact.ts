/**
 * A build context as an OCI artifact (OCI 1.1 artifact guidance): a manifest with its own
 * artifactType, the empty config, and one layer, the context as a tar.gz. The kubernetes driver
 * pushes it (by digest, no tag) to the repository the build pushes to when the context is too
 * large for a ConfigMap; the gantry in the Job's pod builds from `oci-artifact://REPO@DIGEST`,
 * which it fetches with the registry credential the driver lent it. The manifest is verified
 * against the pinned digest and the layer against the manifest while it streams, so the pod
 * builds exactly what was sent. The driver deletes the manifest when the build ends.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GantryError, type IoOptions } from '../../errors.js';
import { type Descriptor, type Digest, type Manifest, MediaType } from '../../oci/types.js';
import { parseReference, type Reference } from '../../reference/index.js';
import type { RegistryClient, Repo } from '../../registry/client/client.js';
import { noProgress, type ProgressSink } from '../../util/progress.js';

export const CONTEXT_ARTIFACT_TYPE = 'application/vnd.gantry.build-context.v1';
export const CONTEXT_ARTIFACT_SCHEME = 'oci-artifact://';
const CONTEXT_LAYER_TYPE = 'application/vnd.oci.image.layer.v1.tar+gzip';
const EMPTY_CONFIG: Descriptor = {
  mediaType: MediaType.OciEmpty,
  digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a' as Digest,
  size: 2,
  data: 'e30=',
};

/** True for `oci-artifact://REGISTRY/REPO@sha256:…`. */
export function isArtifactContext(spec: string): boolean {
  return spec.startsWith(CONTEXT_ARTIFACT_SCHEME);
}

function invalid(spec: string, why: string): GantryError {
  return new GantryError('CONTEXT_INVALID', `invalid context ${spec}: ${why}`, {
    phase: 'usage',
    suggestion: 'give oci-artifact://REGISTRY/REPOSITORY@sha256:DIGEST, as the kubernetes driver writes it',
  });
}

/** The reference of an artifact context; a tag is refused (the bytes must be pinned). */
export function parseArtifactContext(spec: string): Reference & { readonly digest: string } {
  if (!isArtifactContext(spec)) throw invalid(spec, `it does not start with ${CONTEXT_ARTIFACT_SCHEME}`);
  const ref = parseReference(spec.slice(CONTEXT_ARTIFACT_SCHEME.length), { defaultTag: '' });
  if (ref.digest === undefined) throw invalid(spec, 'it names no digest');
  return ref as Reference & { digest: string };
}

/** The tar.gz `file` (its digest and size known) pushed to `repo`; returns the context spec. */
export async function pushContextArtifact(
  client: RegistryClient,
  repo: Repo,
  file: { readonly path: string; readonly digest: string; readonly size: number },
  o: IoOptions & { readonly created?: string } = {},
): Promise<string> {
  const io = o.signal ? { signal: o.signal } : {};
  const layer: Descriptor = {
    mediaType: CONTEXT_LAYER_TYPE,
    digest: file.digest as Digest,
    size: file.size,
    annotations: { 'org.opencontainers.image.title': 'context.tar.gz' },
  };
  await client.pushBlob(repo, EMPTY_CONFIG, () => Readable.from([Buffer.from('{}')]), io);
  await client.pushBlob(repo, layer, () => createReadStream(file.path), io);
  const manifest: Manifest & { artifactType: string } = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    artifactType: CONTEXT_ARTIFACT_TYPE,
    config: EMPTY_CONFIG,
    layers: [layer],
    ...(o.created ? { annotations: { 'org.opencontainers.image.created': o.created } } : {}),
  };
  const bytes = Buffer.from(JSON.stringify(manifest));
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  await client.putManifest(repo, digest, bytes, MediaType.OciManifest, io);
  return `${CONTEXT_ARTIFACT_SCHEME}${repo.registry}/${repo.repository}@${digest}`;
}

/** Fetches an artifact context's tar.gz into `dest`, verified (manifest by digest, layer by the manifest). */
export async function fetchContextArtifact(
  client: RegistryClient,
  spec: string,
  dest: string,
  o: IoOptions = {},
): Promise<void> {
  const io = o.signal ? { signal: o.signal } : {};
  const ref = parseArtifactContext(spec);
  const fetched = await client.getManifest(ref, { ...io, accept: [MediaType.OciManifest] });
  const manifest = JSON.parse(fetched.bytes.toString('utf8')) as Manifest & { artifactType?: string };
  const layer = manifest.layers?.[0];
  if (manifest.artifactType !== CONTEXT_ARTIFACT_TYPE || manifest.layers?.length !== 1 || !layer) {
    throw new GantryError(
      'CONTEXT_INVALID',
      `${spec} is not a build context (artifactType ${JSON.stringify(manifest.artifactType ?? null)}, want ${CONTEXT_ARTIFACT_TYPE} with one layer)`,
      { phase: 'usage', suggestion: 'give the reference the kubernetes driver pushed' },
    );
  }
  const stream = await client.openBlob(ref, layer, io);
  await pipeline(stream, createWriteStream(dest, { mode: 0o600 }), io);
}

/** Deletes an artifact context's manifest (the registry's garbage collection takes its blobs). */
export async function deleteContextArtifact(client: RegistryClient, spec: string, o: IoOptions = {}): Promise<void> {
  await client.deleteManifest(parseArtifactContext(spec), o.signal ? { signal: o.signal } : {});
}

/**
 * Builds from an artifact context (`options.context`): `check` runs first (a bad flag costs no
 * download), then the tar.gz is fetched into a private temporary file for `fn` (a build), which is
 * removed after it; `--progress` shows the fetch.
 */
export async function withArtifactContext<O extends IoOptions & { readonly context: string }, T>(
  session: { client(progress?: ProgressSink): Promise<RegistryClient> },
  o: O & { readonly progress?: ProgressSink },
  check: (o: O) => unknown,
  fn: (o: O) => Promise<T>,
): Promise<T> {
  check(o);
  const progress = o.progress ?? noProgress;
  const io = o.signal ? { signal: o.signal } : {};
  const tmp = await mkdtemp(join(tmpdir(), 'gantry-artifact-'));
  try {
    const file = join(tmp, 'context.tar.gz');
    progress({ type: 'start', id: 'context-artifact', name: `fetching context ${o.context}` });
    try {
      await fetchContextArtifact(await session.client(progress), o.context, file, io);
    } catch (err) {
      progress({ type: 'error', id: 'context-artifact', message: err instanceof Error ? err.message : String(err) });
      throw err;
    }
    progress({ type: 'done', id: 'context-artifact' });
    return await fn({ ...o, context: file });
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
