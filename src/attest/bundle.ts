/**
 * The sigstore bundle form of an image signature, as cosign writes it with
 * `--new-bundle-format` and a key: a bundle v0.3 (sigstore protobuf-specs, JSON) holding a DSSE
 * envelope over an in-toto statement whose subject is the image's digest and whose predicate type
 * is cosign's `https://sigstore.dev/cosign/sign/v1`; ECDSA P-256 over SHA-256 of the DSSE
 * pre-authentication encoding. Attached as an OCI 1.1 referrer (artifactType and layer media type
 * the bundle's). Key-based only: no transparency-log entry (there is no Rekor to reach offline;
 * cosign verifies such a bundle with `--insecure-ignore-tlog`), no certificate.
 */
import { createHash, createPublicKey, sign as ecSign, verify as ecVerify, type KeyObject } from 'node:crypto';
import { parseDigest } from '../oci/digest.js';
import type { Descriptor } from '../oci/types.js';
import { type Artifact, artifactManifest } from './artifact.js';
import type { PayloadVerdict } from './cosign.js';

export const SIGSTORE_BUNDLE_MEDIA_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
/** Older bundle versions a verifier still meets. */
const BUNDLE_MEDIA_TYPES = new Set([
  SIGSTORE_BUNDLE_MEDIA_TYPE,
  'application/vnd.dev.sigstore.bundle+json;version=0.2',
  'application/vnd.dev.sigstore.bundle+json;version=0.1',
]);
export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
export const COSIGN_SIGN_PREDICATE = 'https://sigstore.dev/cosign/sign/v1';

/** DSSE's pre-authentication encoding: what the signature covers. */
export function preAuthEncoding(payloadType: string, payload: Buffer): Buffer {
  const type = Buffer.from(payloadType);
  return Buffer.concat([Buffer.from(`DSSEv1 ${type.length} `), type, Buffer.from(` ${payload.length} `), payload]);
}

/** The base64 SHA-256 of the public key's DER, as the bundle's key hint. */
function keyHint(key: KeyObject): string {
  return createHash('sha256')
    .update(key.export({ type: 'spki', format: 'der' }))
    .digest('base64');
}

/** A bundle signing `digest` (the image in `repository`) with `key`. */
export function signBundle(repository: string, digest: string, key: KeyObject): Buffer {
  const { algorithm, hex } = parseDigest(digest);
  const statement = Buffer.from(
    JSON.stringify({
      _type: 'https://in-toto.io/Statement/v1',
      subject: [{ name: repository, digest: { [algorithm]: hex } }],
      predicateType: COSIGN_SIGN_PREDICATE,
      predicate: {},
    }),
  );
  const sig = ecSign('sha256', preAuthEncoding(IN_TOTO_PAYLOAD_TYPE, statement), key).toString('base64');
  return Buffer.from(
    JSON.stringify({
      mediaType: SIGSTORE_BUNDLE_MEDIA_TYPE,
      verificationMaterial: { publicKey: { hint: keyHint(createPublicKey(key)) }, tlogEntries: [] },
      dsseEnvelope: {
        payload: statement.toString('base64'),
        payloadType: IN_TOTO_PAYLOAD_TYPE,
        signatures: [{ sig, keyid: '' }],
      },
    }),
  );
}

/** The referrer that carries a bundle. */
export function bundleArtifact(subject: Descriptor, bundle: Buffer): Artifact {
  return artifactManifest({
    subject,
    artifactType: SIGSTORE_BUNDLE_MEDIA_TYPE,
    layers: [{ mediaType: SIGSTORE_BUNDLE_MEDIA_TYPE, bytes: bundle }],
    annotations: {
      'dev.sigstore.bundle.content': 'dsse-envelope',
      'dev.sigstore.bundle.predicateType': COSIGN_SIGN_PREDICATE,
    },
  });
}

export function isBundleMediaType(mediaType: string): boolean {
  return BUNDLE_MEDIA_TYPES.has(mediaType);
}

interface BundleJson {
  mediaType?: unknown;
  dsseEnvelope?: { payload?: unknown; payloadType?: unknown; signatures?: { sig?: unknown }[] };
  messageSignature?: unknown;
}

/** Whether `bundle` holds a signature by `key` over a statement naming `digest`. */
export function checkBundle(bundle: Buffer, digest: string, key: KeyObject): PayloadVerdict {
  let doc: BundleJson;
  try {
    doc = JSON.parse(bundle.toString('utf8')) as BundleJson;
  } catch {
    return { ok: false, reason: 'the sigstore bundle is not JSON' };
  }
  if (typeof doc.mediaType !== 'string' || !isBundleMediaType(doc.mediaType))
    return { ok: false, reason: 'not a sigstore bundle' };
  const env = doc.dsseEnvelope;
  if (env === undefined) {
    return {
      ok: false,
      reason:
        doc.messageSignature !== undefined
          ? 'a message-signature bundle (a blob signature) does not sign an image'
          : 'the bundle holds no signature',
    };
  }
  if (env.payloadType !== IN_TOTO_PAYLOAD_TYPE || typeof env.payload !== 'string')
    return { ok: false, reason: 'the bundle does not sign an in-toto statement' };
  const payload = Buffer.from(env.payload, 'base64');
  const pae = preAuthEncoding(IN_TOTO_PAYLOAD_TYPE, payload);
  const valid = (env.signatures ?? []).some((s) => {
    try {
      return typeof s.sig === 'string' && ecVerify('sha256', pae, key, Buffer.from(s.sig, 'base64'));
    } catch {
      return false;
    }
  });
  if (!valid) return { ok: false, reason: 'the signature does not verify with the key' };
  let statement: { subject?: { name?: unknown; digest?: Record<string, unknown> }[] };
  try {
    statement = JSON.parse(payload.toString('utf8')) as typeof statement;
  } catch {
    return { ok: false, reason: 'the signed statement is not JSON' };
  }
  const { algorithm, hex } = parseDigest(digest);
  const named = (statement.subject ?? []).find((s) => s.digest?.[algorithm] === hex);
  if (!named) {
    const other = statement.subject?.[0]?.digest?.[algorithm];
    return {
      ok: false,
      reason: `the signature is for ${typeof other === 'string' ? `${algorithm}:${other}` : 'no digest'}, not ${digest}`,
    };
  }
  return { ok: true, repository: typeof named.name === 'string' ? named.name : '' };
}
