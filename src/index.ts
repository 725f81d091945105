/**
 * gantry's public API: what the CLI does, a typed function each (src/api), the errors and their
 * codes, progress events, the store, references, and the image model for callers who assemble
 * images themselves. Every name is listed here on purpose: nothing internal leaks through
 * `export *`, and test/api/exports.test.ts pins that.
 */

// What the CLI does.
export type { Appended, AppendOptions } from './api/append.js';
export { append } from './api/append.js';
export type { SupplyChainOptions } from './api/attest.js';
export type { LoggedIn, LoginOptions } from './api/auth.js';
export { login, logout } from './api/auth.js';
export type {
  BuildBaseOptions,
  BuildOptions,
  BuildOutcome,
  DirectoryOptions,
  DockerfileOptions,
  FrontEnd,
} from './api/build.js';
export { build, buildDirectory, buildDockerfile } from './api/build.js';
export { type CheckDockerfileOptions, type CheckDockerfileOutcome, checkDockerfile } from './api/check.js';
export type { Pushed } from './api/edit.js';
export type { Exported, ExportOptions } from './api/export.js';
export { exportFilesystem } from './api/export.js';
export type { FlattenOptions } from './api/flatten.js';
export { flatten } from './api/flatten.js';
export type { IndexAppendOptions, IndexCreateOptions } from './api/image-index.js';
export { indexAppend, indexCreate } from './api/image-index.js';
export type { ImageInspection } from './api/inspect.js';
export { catalog, deleteImage, digest, imageConfig, inspect, rawManifest, tags } from './api/inspect.js';
export type { MutateOptions } from './api/mutate.js';
export { mutate } from './api/mutate.js';
export type { RebaseOptions } from './api/rebase.js';
export { rebase } from './api/rebase.js';
export type { ScannerKind, ScanOptions, ScanResult } from './api/scan.js';
export { scan } from './api/scan.js';
export type { CommonOptions, RegistryOptions, Session, SessionOptions } from './api/session.js';
export { createSession } from './api/session.js';
export type { LoadOptions, PruneOptions } from './api/store.js';
export { images, load, prune, rmi } from './api/store.js';
export type {
  Referrer,
  ReferrersOptions,
  SbomDocument,
  SbomLookupOptions,
  SignatureForm,
  SignOptions,
  SignResult,
  VerifiedSignature,
  VerifyOptions,
} from './api/supply.js';
export { referrers, sbom, sign, verify } from './api/supply.js';
export type { BlobRead } from './api/tag.js';
export { blob, tag } from './api/tag.js';
export type { PlatformOption, Pulled, PullOptions, Transferred } from './api/transfer.js';
export { copy, pull, push } from './api/transfer.js';
export type { ValidateOptions, Validation, ValidationProblem } from './api/validate.js';
export { validate } from './api/validate.js';
// Errors: compare `code` (ERROR_CODES documents each), not classes.
export { DockerfileSyntaxError } from './dockerfile/errors.js';
export type { Isolation } from './engine/executor/index.js';
export { RunFailedError } from './engine/executor/index.js';
// Build inputs and outputs.
export type { MachineInfo, MachineInfoOptions, SandboxCandidate } from './engine/info.js';
export { machineInfo } from './engine/info.js';
export type { OutputSpec } from './engine/output.js';
export { parseOutput } from './engine/output.js';
export type { ImageLocation } from './engine/source.js';
export { describeLocation, parseImageLocation } from './engine/source.js';
export type { ErrorCode, GantryErrorOptions, IoOptions, Phase } from './errors.js';
export {
  AbortedError,
  DigestMismatchError,
  ERROR_CODES,
  GantryError,
  InvalidContentError,
  isErrorCode,
  UnsafePathError,
} from './errors.js';
export type { SecretSource } from './frontend/dockerfile/index.js';
// Layers and image files.
export type {
  DockerArchiveItem,
  LoadedItem,
  NamedItem,
  OciArchiveOptions,
  RootfsOptions,
} from './layer/archive/index.js';
export { exportRootfs, loadArchive, writeDockerArchive, writeOciArchive } from './layer/archive/index.js';
export {
  type ExtractOptions,
  type ExtractStats,
  extractLayer,
  type LayerInfo,
  readTar,
  sourceDateEpoch,
  type TarEntry,
  type TarEntryType,
  type TarInput,
  tarStream,
  type WalkOptions,
  type WriteLayerOptions,
  walkDirectory,
  writeLayer,
} from './layer/index.js';
// The image model.
export type { Compression } from './oci/compression.js';
export type { DigestAlgorithm } from './oci/digest.js';
export { digestOf, isDigest, parseDigest } from './oci/digest.js';
export type { BlobSource, Image, ImageIndex, ImageOrIndex, Layer } from './oci/image.js';
export { OciLayout, writeToLayout } from './oci/layout.js';
export type { AddedLayer, NewImageSpec } from './oci/mutate.js';
export { newImage, newIndex } from './oci/mutate.js';
export {
  isIndexMediaType,
  isLayerMediaType,
  isManifestMediaType,
  parseImageConfig,
  parseIndex,
  parseManifest,
} from './oci/parse.js';
export { resolvePlatform } from './oci/partial.js';
export { formatPlatform, hostPlatform, normalizePlatform, parsePlatform, platformMatches } from './oci/platform.js';
export type {
  ContainerConfig,
  Descriptor,
  Digest,
  HealthConfig,
  History,
  ImageConfig,
  Index,
  KnownMediaType,
  Manifest,
  Platform,
} from './oci/types.js';
export { MediaType } from './oci/types.js';
// References.
export {
  familiarName,
  formatReference,
  isDigestReference,
  type ParseReferenceOptions,
  parseReference,
  type Reference,
  ReferenceError,
  registryHost,
  repositoryOf,
  withDigest,
  withTag,
} from './reference/index.js';
// Registry errors carry the HTTP status and a temporary/permanent verdict.
export { RegistryError, TransportError } from './registry/errors.js';
// What an image contains (the SBOM every build and front end gets).
export type { Catalog, ImagePackage, Sbom, SbomFormat, SbomOptions } from './sbom/index.js';
export { imageCatalog, imageSbom } from './sbom/index.js';
// The local store.
export type { ImageSummary, PruneResult, StoreEntry, StoreEntryGroup, StoreOptions } from './store/store.js';
export { defaultStoreDir, normalizeName, REF_NAME_ANNOTATION, Store } from './store/store.js';
// Progress.
export type { ProgressEvent, ProgressSink } from './util/progress.js';
