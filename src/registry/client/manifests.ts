/**
 * Manifests on a registry: GET with an Accept header for the four manifest types, checked against
 * the digest that names them before a field is trusted; HEAD for existence; PUT with the manifest's
 * own media type; DELETE by digest (a tag is resolved first, as registries delete only by digest).
 */
import { DigestMismatchError, GantryError, type IoOptions, throwIfAborted } from '../../errors.js';
import { digestOf, isDigest, parseDigest } from '../../oci/digest.js';
import {
  isIndexMediaType,
  isManifestMediaType,
  parseIndex,
  parseManifest,
  sniffManifestKind,
} from '../../oci/parse.js';
import { type Descriptor, MediaType } from '../../oci/types.js';
import type { Reference } from '../../reference/index.js';
import type { HttpResponse } from '../transport/types.js';
import { type Endpoints, mediaTypeOf, readBody } from './endpoint.js';
import { pullScope, pushScope, type Repo } from './types.js';

/** Registries cap manifests at 4 MiB (distribution-spec); anything larger is not one. */
export const MAX_MANIFEST_SIZE = 4 * 1024 * 1024;

/** Every manifest type gantry reads, OCI first. */
export const MANIFEST_ACCEPT: readonly string[] = [
  MediaType.OciIndex,
  MediaType.OciManifest,
  MediaType.DockerManifestList,
  MediaType.DockerManifest,
];

export interface FetchedManifest {
  readonly bytes: Buffer;
  readonly descriptor: Descriptor;
}

export interface GetManifestOptions extends IoOptions {
  readonly accept?: readonly string[];
}

/** The tag or digest a reference names on the wire (the digest wins: it pins the bytes). */
export function referenceOf(ref: Reference): string {
  if (ref.digest !== undefined) return ref.digest;
  if (ref.tag !== undefined) return ref.tag;
  throw new GantryError('REFERENCE_INCOMPLETE', `${ref.registry}/${ref.repository} names neither a tag nor a digest`, {
    phase: 'reference',
    suggestion: 'add a tag (:latest) or a digest (@sha256:...)',
  });
}

function manifestPath(repository: string, reference: string): string {
  return `/v2/${repository}/manifests/${reference}`;
}

function whatOf(ref: Reference): string {
  return ref.digest !== undefined ? `manifest ${ref.digest}` : `manifest ${ref.tag ?? ''}`;
}

/** Media type from the document when it declares one, else from Content-Type, else from its shape. */
function mediaTypeFor(
  bytes: Buffer,
  contentType: string | undefined,
): { kind: 'manifest' | 'index'; mediaType: string } {
  const sniffed = sniffManifestKind(bytes);
  const declared = (() => {
    try {
      const doc = JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown };
      return typeof doc.mediaType === 'string' ? doc.mediaType : undefined;
    } catch {
      return undefined;
    }
  })();
  if (declared !== undefined || contentType === undefined) return sniffed;
  const sameKind = sniffed.kind === 'index' ? isIndexMediaType(contentType) : isManifestMediaType(contentType);
  return sameKind ? { kind: sniffed.kind, mediaType: contentType } : sniffed;
}

function checkHeaderDigest(res: HttpResponse, bytes: Buffer, what: string): void {
  const header = res.headers['docker-content-digest']?.trim();
  if (header === undefined || !isDigest(header)) return;
  const actual = digestOf(bytes, parseDigest(header).algorithm);
  if (actual !== header) {
    throw new DigestMismatchError(header, actual, what, {
      phase: 'pull',
      suggestion: 'the registry or a proxy changed the manifest in transit; retry, and check any proxy in between',
    });
  }
}

export async function getManifest(
  ep: Endpoints,
  ref: Reference,
  options: GetManifestOptions = {},
): Promise<FetchedManifest> {
  throwIfAborted(options.signal);
  const reference = referenceOf(ref);
  if (ref.digest !== undefined) parseDigest(ref.digest);
  const what = whatOf(ref);
  const res = await ep.expect(
    ref.registry,
    {
      method: 'GET',
      url: await ep.url(ref.registry, manifestPath(ref.repository, reference)),
      headers: { accept: (options.accept ?? MANIFEST_ACCEPT).join(', ') },
      scopes: [pullScope(ref.repository)],
      signal: options.signal,
    },
    [200],
    { repository: ref.repository, what },
  );
  const bytes = await readBody(res, MAX_MANIFEST_SIZE, what, options.signal);
  let digest: string;
  if (ref.digest !== undefined) {
    const actual = digestOf(bytes, parseDigest(ref.digest).algorithm);
    if (actual !== ref.digest) {
      throw new DigestMismatchError(ref.digest, actual, what, {
        phase: 'pull',
        suggestion: 'the registry or a proxy returned other bytes than the digest names; do not use this registry',
      });
    }
    digest = ref.digest;
  } else {
    checkHeaderDigest(res, bytes, what);
    digest = digestOf(bytes);
  }
  const { kind, mediaType } = mediaTypeFor(bytes, mediaTypeOf(res.headers['content-type']));
  // Validate before anyone reads a field of it.
  if (kind === 'index') parseIndex(bytes, { mediaType });
  else parseManifest(bytes, { mediaType });
  return { bytes, descriptor: { mediaType, digest, size: bytes.byteLength } };
}

/** HEAD: the descriptor when the manifest exists, undefined on 404. Falls back to GET when the registry sends no digest. */
export async function headManifest(
  ep: Endpoints,
  ref: Reference,
  options: GetManifestOptions = {},
): Promise<Descriptor | undefined> {
  throwIfAborted(options.signal);
  const reference = referenceOf(ref);
  const res = await ep.send(ref.registry, {
    method: 'HEAD',
    url: await ep.url(ref.registry, manifestPath(ref.repository, reference)),
    headers: { accept: (options.accept ?? MANIFEST_ACCEPT).join(', ') },
    scopes: [pullScope(ref.repository)],
    signal: options.signal,
  });
  if (res.status === 404) {
    await res.discard().catch(() => {});
    return undefined;
  }
  if (res.status !== 200) throw await ep.error(ref.registry, res, { repository: ref.repository, what: whatOf(ref) });
  await res.discard().catch(() => {});
  const header = res.headers['docker-content-digest']?.trim();
  const digest = header !== undefined && isDigest(header) ? header : ref.digest;
  const size = Number(res.headers['content-length']);
  const mediaType = mediaTypeOf(res.headers['content-type']);
  if (ref.digest !== undefined && digest !== ref.digest) {
    throw new DigestMismatchError(ref.digest, digest ?? 'none', whatOf(ref), { phase: 'pull' });
  }
  if (digest === undefined || !Number.isSafeInteger(size) || mediaType === undefined) {
    return (await getManifest(ep, ref, options)).descriptor;
  }
  return { mediaType, digest, size };
}

export interface PutManifestResult {
  readonly descriptor: Descriptor;
  /** The OCI-Subject header: set when the registry processed the manifest's `subject` (referrers API). */
  readonly ociSubject: string | undefined;
}

export async function putManifest(
  ep: Endpoints,
  repo: Repo,
  tagOrDigest: string,
  bytes: Buffer,
  mediaType: string,
  options: IoOptions = {},
): Promise<PutManifestResult> {
  throwIfAborted(options.signal);
  const descriptor: Descriptor = { mediaType, digest: digestOf(bytes), size: bytes.byteLength };
  if (tagOrDigest.includes(':')) {
    const actual = digestOf(bytes, parseDigest(tagOrDigest).algorithm);
    if (actual !== tagOrDigest) throw new DigestMismatchError(tagOrDigest, actual, 'manifest', { phase: 'push' });
  }
  const what = `manifest ${tagOrDigest}`;
  const res = await ep.expect(
    repo.registry,
    {
      method: 'PUT',
      url: await ep.url(repo.registry, manifestPath(repo.repository, tagOrDigest)),
      headers: { 'content-type': mediaType },
      body: bytes,
      bodyLength: bytes.byteLength,
      scopes: [pushScope(repo.repository)],
      signal: options.signal,
    },
    [200, 201, 202, 204],
    { repository: repo.repository, what },
  );
  await res.discard().catch(() => {});
  const header = res.headers['docker-content-digest']?.trim();
  if (header !== undefined && isDigest(header) && parseDigest(header).algorithm === 'sha256') {
    if (header !== descriptor.digest) {
      throw new DigestMismatchError(descriptor.digest, header, `manifest stored by ${repo.registry}`, {
        phase: 'push',
        suggestion: 'the registry changed the manifest it was sent; it may not support this manifest type',
      });
    }
  }
  const subject = res.headers['oci-subject']?.trim();
  return { descriptor, ociSubject: subject === '' ? undefined : subject };
}

/** Deletes a manifest; a tag is resolved to its digest first. Returns the digest deleted. */
export async function deleteManifest(ep: Endpoints, ref: Reference, options: IoOptions = {}): Promise<string> {
  throwIfAborted(options.signal);
  let desc: Descriptor | undefined;
  if (ref.digest === undefined) {
    desc = await headManifest(ep, ref, options);
    if (desc === undefined) {
      throw new GantryError(
        'MANIFEST_UNKNOWN',
        `manifest ${ref.tag ?? ''} not found in ${ref.repository} on ${ref.registry}`,
        {
          phase: 'push',
          suggestion: `check the tag; gantry tags ${ref.registry}/${ref.repository} lists the tags`,
        },
      );
    }
  }
  const digest = ref.digest ?? (desc as Descriptor).digest;
  const res = await ep.expect(
    ref.registry,
    {
      method: 'DELETE',
      url: await ep.url(ref.registry, manifestPath(ref.repository, digest)),
      // Registries with token auth grant DELETE under its own action (distribution: "delete").
      scopes: [`repository:${ref.repository}:delete`],
      signal: options.signal,
    },
    [200, 202, 204],
    { repository: ref.repository, what: `manifest ${digest}` },
  );
  await res.discard().catch(() => {});
  return digest;
}
