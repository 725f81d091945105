/**
 * The supply chain of an existing image: its SBOM (the attached one when there is one, else made
 * from the image), the artifacts that refer to it (registry referrers API or tag schema, or the
 * artifacts beside it in an OCI layout), and cosign-compatible signing and verification.
 */
import { loadPrivateKey, loadPublicKey } from '../attest/keys.js';
import { type ImageLocation, type OpenedImage, openImage } from '../engine/source.js';
import { GantryError, type IoOptions } from '../errors.js';
import { type Image, type ImageIndex, isImageIndex } from '../oci/image.js';
import { OciLayout } from '../oci/layout.js';
import { parseManifest } from '../oci/parse.js';
import type { Descriptor } from '../oci/types.js';
import { formatReference, type Reference } from '../reference/index.js';
import type { RegistryClient } from '../registry/client/client.js';
import { imageSbom, SBOM_MEDIA_TYPES, type SbomFormat } from '../sbom/index.js';
import { gantryVersion } from './attest.js';
import { callerLocation } from './input.js';
import { type CommonOptions, sessionOf } from './session.js';
import { type SignatureForm, type SignResult, signImage, type VerifiedSignature, verifyImage } from './sign.js';
import { locationsFor, type PlatformOption, pickPlatform, platformOf } from './transfer.js';

export type { SignatureForm, SignResult, VerifiedSignature } from './sign.js';

function usage(message: string, suggestion: string): GantryError {
  return new GantryError('USAGE', message, { phase: 'usage', suggestion });
}

function ioOf(options: CommonOptions): IoOptions {
  return options.signal ? { signal: options.signal } : {};
}

async function withOpened<T>(
  image: string | ImageLocation,
  options: CommonOptions,
  fn: (src: OpenedImage, loc: ImageLocation) => Promise<T>,
): Promise<T> {
  const loc = callerLocation(image);
  const lc = await locationsFor(sessionOf(options), options.progress, loc);
  const src = await openImage(loc, lc, ioOf(options));
  try {
    return await fn(src, loc);
  } finally {
    await src.close();
  }
}

async function descriptorOf(item: Image | ImageIndex, o: IoOptions): Promise<Descriptor> {
  return { mediaType: await item.mediaType(o), digest: await item.digest(o), size: await item.size(o) };
}

/** Artifacts in an OCI layout whose subject is `digest` (index.json entries, read one by one). */
async function layoutReferrers(dir: string, digest: string, o: IoOptions): Promise<Descriptor[]> {
  const layout = await OciLayout.open(dir);
  const out: Descriptor[] = [];
  for (const d of (await layout.readIndex(o)).manifests) {
    if (d.artifactType === undefined) continue;
    const m = parseManifest(await layout.readBlob(d, o));
    if (m.subject?.digest === digest) out.push({ ...d, ...(m.artifactType ? { artifactType: m.artifactType } : {}) });
  }
  return out;
}

interface ReferrerSource {
  list(subject: string, artifactType?: string): Promise<Descriptor[]>;
  /** The first layer of an artifact manifest. */
  document(desc: Descriptor): Promise<Buffer>;
}

async function readAll(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function registrySource(client: RegistryClient, ref: Reference, o: IoOptions): ReferrerSource {
  const repo = { registry: ref.registry, repository: ref.repository };
  return {
    list: (subject, artifactType) =>
      client.referrers(repo, subject, { ...o, ...(artifactType ? { artifactType } : {}) }),
    document: async (desc) => {
      const m = parseManifest((await client.getManifest({ ...repo, digest: desc.digest }, o)).bytes);
      const layer = m.layers[0];
      if (!layer) throw new GantryError('ARTIFACT_EMPTY', `artifact ${desc.digest} has no layer`, { phase: 'supply' });
      return readAll(await client.openBlob(repo, layer, o));
    },
  };
}

function layoutSource(dir: string, o: IoOptions): ReferrerSource {
  return {
    list: async (subject, artifactType) =>
      (await layoutReferrers(dir, subject, o)).filter(
        (d) => artifactType === undefined || d.artifactType === artifactType,
      ),
    document: async (desc) => {
      const layout = await OciLayout.open(dir);
      const layer = parseManifest(await layout.readBlob(desc, o)).layers[0];
      if (!layer) throw new GantryError('ARTIFACT_EMPTY', `artifact ${desc.digest} has no layer`, { phase: 'supply' });
      return layout.readBlob(layer, o);
    },
  };
}

async function referrerSource(loc: ImageLocation, options: CommonOptions): Promise<ReferrerSource | undefined> {
  if (loc.kind === 'registry')
    return registrySource(await sessionOf(options).client(options.progress), loc.ref, ioOf(options));
  if (loc.kind === 'oci') return layoutSource(loc.path, ioOf(options));
  return undefined;
}

export interface SbomLookupOptions extends CommonOptions, PlatformOption {
  /** Default: the attached format, else cyclonedx. */
  readonly format?: SbomFormat;
  /** Make the SBOM from the image even when one is attached. */
  readonly generate?: boolean;
}

export interface SbomDocument {
  readonly format: SbomFormat;
  readonly mediaType: string;
  readonly bytes: Buffer;
  /** `attached`: the referrer pushed with the image; `generated`: made now from the image. */
  readonly source: 'attached' | 'generated';
  /** The platform image it describes. */
  readonly digest: string;
}

/** The SBOM of an image (this machine's platform of an index, or `platform`). */
export function sbom(image: string | ImageLocation, options: SbomLookupOptions = {}): Promise<SbomDocument> {
  return withOpened(image, options, async (src, loc) => {
    const o = ioOf(options);
    const item = await pickPlatform(src.item, platformOf(options.platform), false, options.signal);
    if (isImageIndex(item)) throw usage('the index has no image for that platform', 'pick one with --platform');
    const digest = await item.digest(o);
    const source = options.generate ? undefined : await referrerSource(loc, options);
    if (source) {
      const formats: SbomFormat[] = options.format ? [options.format] : ['cyclonedx', 'spdx'];
      for (const format of formats) {
        const found = await source.list(digest, SBOM_MEDIA_TYPES[format]);
        const last = found[found.length - 1];
        if (last) {
          const bytes = await source.document(last);
          return { format, mediaType: SBOM_MEDIA_TYPES[format], bytes, source: 'attached', digest };
        }
      }
    }
    const made = await imageSbom(item, {
      ...o,
      format: options.format ?? 'cyclonedx',
      ...(src.name ? { name: src.name } : {}),
      toolVersion: gantryVersion(),
    });
    return { format: made.format, mediaType: made.mediaType, bytes: made.bytes, source: 'generated', digest };
  });
}

export interface Referrer extends Descriptor {
  /** The digest the artifact refers to. */
  readonly subject: string;
}

export interface ReferrersOptions extends CommonOptions {
  /** Only artifacts of this type. */
  readonly artifactType?: string;
}

/**
 * The artifacts that refer to an image and, for an index, to each of its manifests: through the
 * registry's referrers API or the referrers tag schema, or from an OCI layout's index.json.
 */
export function referrers(image: string | ImageLocation, options: ReferrersOptions = {}): Promise<Referrer[]> {
  return withOpened(image, options, async (src, loc) => {
    const source = await referrerSource(loc, options);
    if (!source) {
      throw usage(
        `referrers live in registries and OCI layouts, not in ${loc.kind}:`,
        'give a registry reference or oci:DIR',
      );
    }
    const o = ioOf(options);
    const subjects = [src.descriptor.digest];
    if (isImageIndex(src.item)) for (const d of (await src.item.indexManifest(o)).manifests) subjects.push(d.digest);
    const out: Referrer[] = [];
    for (const subject of subjects)
      for (const d of await source.list(subject, options.artifactType)) out.push({ ...d, subject });
    return out;
  });
}

function registryOnly(loc: ImageLocation, verb: string): Reference {
  if (loc.kind !== 'registry') {
    throw usage(
      `gantry ${verb} works on images in a registry, not ${loc.kind}:`,
      'push the image, then name it REGISTRY/REPO:TAG',
    );
  }
  return loc.ref;
}

export interface SignOptions extends CommonOptions {
  /** The ECDSA P-256 private key: a PEM file (PKCS#8 or SEC1), or env://VAR. */
  readonly key: string;
  /** Where the signature goes: the `.sig` tag, a referrer, or both (default). */
  readonly form?: SignatureForm;
}

/** Signs an image in a registry, as cosign does (`sha256-<hex>.sig` tag and/or referrer). */
export function sign(image: string | ImageLocation, options: SignOptions): Promise<SignResult & { reference: string }> {
  const loc = callerLocation(image);
  const ref = registryOnly(loc, 'sign');
  return (async () => {
    const key = await loadPrivateKey(options.key);
    return withOpened(loc, options, async (src) => {
      const client = await sessionOf(options).client(options.progress);
      const subject = await descriptorOf(src.item, ioOf(options));
      const result = await signImage(client, ref, subject, key, {
        ...ioOf(options),
        ...(options.form ? { form: options.form } : {}),
      });
      return { ...result, reference: formatReference(ref) };
    });
  })();
}

export interface VerifyOptions extends CommonOptions {
  /** The public key (SPKI PEM, e.g. cosign.pub) or env://VAR. */
  readonly key: string;
}

/** Verifies the signatures of an image in a registry; throws when none verifies with the key. */
export function verify(
  image: string | ImageLocation,
  options: VerifyOptions,
): Promise<{ reference: string; digest: string; signatures: VerifiedSignature[] }> {
  const loc = callerLocation(image);
  const ref = registryOnly(loc, 'verify');
  return (async () => {
    const key = await loadPublicKey(options.key);
    return withOpened(loc, options, async (src) => {
      const client = await sessionOf(options).client(options.progress);
      const subject = await descriptorOf(src.item, ioOf(options));
      const signatures = await verifyImage(client, ref, subject, key, ioOf(options));
      return { reference: formatReference(ref), digest: subject.digest, signatures };
    });
  })();
}
