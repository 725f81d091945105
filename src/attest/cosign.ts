/**
 * cosign-compatible signatures. The payload is a "simple signing" JSON naming the image's manifest
 * digest and repository; the signature is ECDSA P-256 over SHA-256 of the payload bytes (ASN.1
 * DER, base64 in the layer annotation `dev.cosignproject.cosign/signature`), which is exactly what
 * `openssl dgst -sha256 -verify` checks. Two places hold it, as cosign writes them: the classic
 * `sha256-<hex>.sig` tag (an image manifest whose layers are the payloads; signing again appends a
 * layer), and the referrer form (an OCI 1.1 artifact with the payload as its layer and the image as
 * its subject).
 */
import { sign as ecSign, verify as ecVerify, type KeyObject } from 'node:crypto';
import { digestOf, parseDigest } from '../oci/digest.js';
import { type Descriptor, MediaType } from '../oci/types.js';
import { type Artifact, type ArtifactBlob, artifactManifest } from './artifact.js';

export const SIMPLE_SIGNING_MEDIA_TYPE = 'application/vnd.dev.cosign.simplesigning.v1+json';
export const SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';
/** The artifactType cosign gives signatures stored as referrers (`--registry-referrers-mode=oci-1-1`). */
export const COSIGN_SIGNATURE_ARTIFACT_TYPE = 'application/vnd.dev.cosign.artifact.sig.v1+json';
export const COSIGN_SIGNATURE_TYPE = 'cosign container image signature';

/** `sha256-<hex>.sig`: the tag cosign keeps an image's signatures under. */
export function signatureTag(digest: string): string {
  const { algorithm, hex } = parseDigest(digest);
  return `${algorithm}-${hex}.sig`;
}

export function simpleSigningPayload(repository: string, digest: string): Buffer {
  return Buffer.from(
    JSON.stringify({
      critical: {
        identity: { 'docker-reference': repository },
        image: { 'docker-manifest-digest': digest },
        type: COSIGN_SIGNATURE_TYPE,
      },
      optional: null,
    }),
  );
}

/** base64 of the DER ECDSA signature over SHA-256 of `payload`. */
export function signPayload(payload: Buffer, key: KeyObject): string {
  return ecSign('sha256', payload, key).toString('base64');
}

export interface SignedPayload {
  readonly payload: Buffer;
  readonly signature: string;
}

/** The config cosign writes into a `.sig` image: no platform, the payloads as diff IDs. */
function signatureConfig(layers: readonly Descriptor[]): Buffer {
  return Buffer.from(
    JSON.stringify({
      architecture: '',
      created: '0001-01-01T00:00:00Z',
      history: [{ created: '0001-01-01T00:00:00Z' }],
      os: '',
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
      config: {},
    }),
  );
}

function layerOf(s: SignedPayload): { desc: Descriptor; bytes: Buffer } {
  return {
    desc: {
      mediaType: SIMPLE_SIGNING_MEDIA_TYPE,
      digest: digestOf(s.payload),
      size: s.payload.length,
      annotations: { [SIGNATURE_ANNOTATION]: s.signature },
    },
    bytes: s.payload,
  };
}

export interface SignatureImage {
  readonly manifest: Buffer;
  readonly blobs: readonly ArtifactBlob[];
}

/**
 * The `.sig` manifest holding `existing` layers (descriptors of the current tag, kept as they are)
 * plus `added`, unless an identical signature is there already.
 */
export function signatureImage(existing: readonly Descriptor[], added: SignedPayload): SignatureImage {
  const layer = layerOf(added);
  const same = existing.some(
    (d) => d.digest === layer.desc.digest && d.annotations?.[SIGNATURE_ANNOTATION] === added.signature,
  );
  const layers = same ? [...existing] : [...existing, layer.desc];
  const config = signatureConfig(layers);
  const configDesc: Descriptor = { mediaType: MediaType.OciConfig, digest: digestOf(config), size: config.length };
  const manifest = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: configDesc, layers }),
  );
  return { manifest, blobs: [{ desc: configDesc, bytes: config }, ...(same ? [] : [layer])] };
}

/** The referrer form of a signature. */
export function signatureArtifact(subject: Descriptor, signed: SignedPayload): Artifact {
  return artifactManifest({
    subject,
    artifactType: COSIGN_SIGNATURE_ARTIFACT_TYPE,
    layers: [
      {
        mediaType: SIMPLE_SIGNING_MEDIA_TYPE,
        bytes: signed.payload,
        annotations: { [SIGNATURE_ANNOTATION]: signed.signature },
      },
    ],
  });
}

export type PayloadVerdict =
  | { readonly ok: true; readonly repository: string }
  | { readonly ok: false; readonly reason: string };

/** Whether `signature` is `key`'s over `payload`, and the payload names `digest`. */
export function checkSignedPayload(payload: Buffer, signature: string, digest: string, key: KeyObject): PayloadVerdict {
  let valid = false;
  try {
    valid = ecVerify('sha256', payload, key, Buffer.from(signature, 'base64'));
  } catch {
    valid = false;
  }
  if (!valid) return { ok: false, reason: 'the signature does not verify with the key' };
  let doc: {
    critical?: {
      image?: { 'docker-manifest-digest'?: unknown };
      identity?: { 'docker-reference'?: unknown };
      type?: unknown;
    };
  };
  try {
    doc = JSON.parse(payload.toString('utf8')) as typeof doc;
  } catch {
    return { ok: false, reason: 'the signed payload is not JSON' };
  }
  if (doc.critical?.type !== COSIGN_SIGNATURE_TYPE)
    return { ok: false, reason: 'the signed payload is not a cosign image signature' };
  const signed = doc.critical.image?.['docker-manifest-digest'];
  if (signed !== digest) {
    return {
      ok: false,
      reason: `the signature is for ${typeof signed === 'string' ? signed : 'no digest'}, not ${digest}`,
    };
  }
  const repository = doc.critical.identity?.['docker-reference'];
  return { ok: true, repository: typeof repository === 'string' ? repository : '' };
}
