/**
 * OCI 1.1 artifact manifests that refer to an image (`subject`): an SBOM, a provenance statement
 * or a signature is one such manifest with the empty config, `artifactType`, and its document as
 * the one layer. Built in memory (the documents are small), pushed by the caller.
 */

import { Readable } from 'node:stream';
import { digestOf } from '../oci/digest.js';
import type { Image, Layer } from '../oci/image.js';
import { type Descriptor, MediaType } from '../oci/types.js';

/** The empty JSON config every artifact manifest points to (image-spec 1.1). */
export const EMPTY_JSON = Buffer.from('{}');
export const EMPTY_DESCRIPTOR: Descriptor = {
  mediaType: MediaType.OciEmpty,
  digest: digestOf(EMPTY_JSON),
  size: EMPTY_JSON.length,
};

export interface ArtifactBlob {
  readonly desc: Descriptor;
  readonly bytes: Buffer;
}

export interface Artifact {
  readonly manifest: Buffer;
  readonly descriptor: Descriptor;
  readonly artifactType: string;
  readonly subject: Descriptor;
  /** The config and layer blobs, config first. */
  readonly blobs: readonly ArtifactBlob[];
}

export interface ArtifactLayer {
  readonly mediaType: string;
  readonly bytes: Buffer;
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface ArtifactSpec {
  readonly subject: Descriptor;
  readonly artifactType: string;
  readonly layers: readonly ArtifactLayer[];
  readonly annotations?: Readonly<Record<string, string>>;
}

/** The subject as an artifact names it: media type, digest and size only. */
export function plainDescriptor(d: Descriptor): Descriptor {
  return { mediaType: d.mediaType, digest: d.digest, size: d.size };
}

export function artifactManifest(spec: ArtifactSpec): Artifact {
  const layers = spec.layers.map((l) => ({
    desc: {
      mediaType: l.mediaType,
      digest: digestOf(l.bytes),
      size: l.bytes.length,
      ...(l.annotations ? { annotations: { ...l.annotations } } : {}),
    },
    bytes: l.bytes,
  }));
  const subject = plainDescriptor(spec.subject);
  const doc = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    artifactType: spec.artifactType,
    config: EMPTY_DESCRIPTOR,
    layers: layers.map((l) => l.desc),
    subject,
    ...(spec.annotations ? { annotations: { ...spec.annotations } } : {}),
  };
  const manifest = Buffer.from(JSON.stringify(doc));
  return {
    manifest,
    descriptor: {
      mediaType: MediaType.OciManifest,
      digest: digestOf(manifest),
      size: manifest.length,
      artifactType: spec.artifactType,
      ...(spec.annotations ? { annotations: { ...spec.annotations } } : {}),
    },
    artifactType: spec.artifactType,
    subject,
    blobs: [{ desc: EMPTY_DESCRIPTOR, bytes: EMPTY_JSON }, ...layers],
  };
}

/**
 * An artifact as an Image, so that the writers of OCI layouts and archives can store it beside
 * the image it refers to. Its "layers" are its documents, opened from memory.
 */
export function artifactImage(a: Artifact): Image {
  const [config, ...layers] = a.blobs as [ArtifactBlob, ...ArtifactBlob[]];
  const layerOf = (b: ArtifactBlob): Layer => ({
    digest: async () => b.desc.digest,
    diffID: async () => b.desc.digest,
    size: async () => b.desc.size,
    mediaType: async () => b.desc.mediaType,
    compressed: async () => Readable.from([b.bytes]),
    uncompressed: async () => Readable.from([b.bytes]),
  });
  const doc = JSON.parse(a.manifest.toString('utf8'));
  return {
    mediaType: async () => MediaType.OciManifest,
    rawManifest: async () => Buffer.from(a.manifest),
    manifest: async () => doc,
    digest: async () => a.descriptor.digest,
    size: async () => a.manifest.length,
    rawConfigFile: async () => Buffer.from(config.bytes),
    configFile: async () => JSON.parse(config.bytes.toString('utf8')),
    configName: async () => config.desc.digest,
    layers: async () => layers.map(layerOf),
    layerByDigest: async (digest) => layerOf(layers.find((l) => l.desc.digest === digest) as ArtifactBlob),
  };
}
