/**
 * Signing and verifying an image in a registry the way cosign does (see src/attest/cosign.ts for
 * the format): `signImage` writes the `sha256-<hex>.sig` tag (appending to what is there) and the
 * referrer form; `verifyImage` accepts the image when a signature from either place verifies with
 * the key over a payload that names the image's digest.
 */
import type { KeyObject } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  bundleArtifact,
  checkBundle,
  isBundleMediaType,
  SIGSTORE_BUNDLE_MEDIA_TYPE,
  signBundle,
} from '../attest/bundle.js';
import {
  COSIGN_SIGNATURE_ARTIFACT_TYPE,
  checkSignedPayload,
  SIGNATURE_ANNOTATION,
  SIMPLE_SIGNING_MEDIA_TYPE,
  signatureArtifact,
  signatureImage,
  signatureTag,
  signPayload,
  simpleSigningPayload,
} from '../attest/cosign.js';
import { GantryError, type IoOptions } from '../errors.js';
import { parseManifest } from '../oci/parse.js';
import type { Descriptor } from '../oci/types.js';
import type { Reference } from '../reference/index.js';
import type { RegistryClient } from '../registry/client/client.js';
import { pushArtifactTo } from './referrer-push.js';

/**
 * Where a signature goes: the `.sig` tag, a simple-signing referrer, both (the default), or a
 * sigstore bundle referrer (cosign's `--new-bundle-format`).
 */
export type SignatureForm = 'tag' | 'referrer' | 'both' | 'bundle';

export interface SignResult {
  readonly digest: string;
  /** The `.sig` tag written, when the tag form was. */
  readonly tag?: string;
  /** The digest of the referrer manifest, when the referrer (or bundle) form was written. */
  readonly referrer?: string;
}

function repoOf(ref: Reference) {
  return { registry: ref.registry, repository: ref.repository };
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** The layers of the image's `.sig` manifest, or none. */
async function signatureLayers(client: RegistryClient, ref: Reference, digest: string, o: IoOptions) {
  const tagRef: Reference = { registry: ref.registry, repository: ref.repository, tag: signatureTag(digest) };
  if ((await client.headManifest(tagRef, o)) === undefined) return [];
  return [...parseManifest((await client.getManifest(tagRef, o)).bytes).layers];
}

export async function signImage(
  client: RegistryClient,
  ref: Reference,
  subject: Descriptor,
  key: KeyObject,
  options: IoOptions & { readonly form?: SignatureForm } = {},
): Promise<SignResult> {
  const form = options.form ?? 'both';
  if (form === 'bundle') {
    const bundle = signBundle(`${ref.registry}/${ref.repository}`, subject.digest, key);
    const pushed = await pushArtifactTo(client, ref, bundleArtifact(subject, bundle), options);
    return { digest: subject.digest, referrer: pushed.digest };
  }
  const payload = simpleSigningPayload(`${ref.registry}/${ref.repository}`, subject.digest);
  const signed = { payload, signature: signPayload(payload, key) };
  const repo = repoOf(ref);
  let tag: string | undefined;
  let referrer: string | undefined;
  if (form !== 'referrer') {
    const sig = signatureImage(await signatureLayers(client, ref, subject.digest, options), signed);
    for (const b of sig.blobs) await client.pushBlob(repo, b.desc, () => Readable.from([b.bytes]), options);
    tag = signatureTag(subject.digest);
    await client.putManifest(repo, tag, sig.manifest, 'application/vnd.oci.image.manifest.v1+json', options);
  }
  if (form !== 'tag')
    referrer = (await pushArtifactTo(client, ref, signatureArtifact(subject, signed), options)).digest;
  return { digest: subject.digest, ...(tag ? { tag } : {}), ...(referrer ? { referrer } : {}) };
}

export interface VerifiedSignature {
  readonly source: 'tag' | 'referrer' | 'bundle';
  /** The repository the payload names (`docker-reference`). */
  readonly repository: string;
  readonly payloadDigest: string;
}

/** The verified signatures of `subject`; throws when there is none, or none verifies. */
export async function verifyImage(
  client: RegistryClient,
  ref: Reference,
  subject: Descriptor,
  key: KeyObject,
  options: IoOptions = {},
): Promise<VerifiedSignature[]> {
  const repo = repoOf(ref);
  const candidates: { source: VerifiedSignature['source']; layer: Descriptor }[] = [];
  for (const layer of await signatureLayers(client, ref, subject.digest, options))
    if (layer.mediaType === SIMPLE_SIGNING_MEDIA_TYPE) candidates.push({ source: 'tag', layer });
  const referrers = await client.referrers(repo, subject.digest, {
    ...options,
    artifactType: COSIGN_SIGNATURE_ARTIFACT_TYPE,
  });
  for (const r of referrers) {
    const m = parseManifest((await client.getManifest({ ...repo, digest: r.digest }, options)).bytes);
    for (const layer of m.layers)
      if (layer.mediaType === SIMPLE_SIGNING_MEDIA_TYPE) candidates.push({ source: 'referrer', layer });
  }
  const bundles = await client.referrers(repo, subject.digest, {
    ...options,
    artifactType: SIGSTORE_BUNDLE_MEDIA_TYPE,
  });
  for (const r of bundles) {
    const m = parseManifest((await client.getManifest({ ...repo, digest: r.digest }, options)).bytes);
    for (const layer of m.layers) if (isBundleMediaType(layer.mediaType)) candidates.push({ source: 'bundle', layer });
  }
  const where = `${ref.registry}/${ref.repository}@${subject.digest}`;
  if (candidates.length === 0) {
    throw new GantryError('SIGNATURE_NOT_FOUND', `${where} has no signature`, {
      phase: 'supply',
      suggestion: `sign it with gantry sign (no ${signatureTag(subject.digest)} tag, no signature referrer and no sigstore bundle; a changed image has a new digest and no signature)`,
    });
  }
  const verified: VerifiedSignature[] = [];
  const reasons = new Set<string>();
  for (const c of candidates) {
    if (c.source === 'bundle') {
      const verdict = checkBundle(await collect(await client.openBlob(repo, c.layer, options)), subject.digest, key);
      if (verdict.ok)
        verified.push({ source: c.source, repository: verdict.repository, payloadDigest: c.layer.digest });
      else reasons.add(verdict.reason);
      continue;
    }
    const signature = c.layer.annotations?.[SIGNATURE_ANNOTATION];
    if (signature === undefined) {
      reasons.add('a signature layer has no signature annotation');
      continue;
    }
    // The payload is read verified against the digest its descriptor gives.
    const payload = await collect(await client.openBlob(repo, c.layer, options));
    const verdict = checkSignedPayload(payload, signature, subject.digest, key);
    if (verdict.ok) verified.push({ source: c.source, repository: verdict.repository, payloadDigest: c.layer.digest });
    else reasons.add(verdict.reason);
  }
  if (verified.length === 0) {
    throw new GantryError(
      'SIGNATURE_INVALID',
      `no signature of ${where} verifies (${candidates.length} checked: ${[...reasons].join('; ')})`,
      { phase: 'supply', suggestion: 'the image or its signature was changed, or it was signed with another key' },
    );
  }
  return verified;
}
