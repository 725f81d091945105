/** The reference module's public surface: image reference parsing, normalization and printing. */
export { ReferenceError, type ReferencePart } from './error.js';
export {
  DOCKER_HUB,
  DOCKER_HUB_API,
  DOCKER_HUB_LEGACY,
  type NormalizeHostOptions,
  normalizeRegistryHost,
  registryHost,
} from './hosts.js';
export {
  familiarName,
  formatReference,
  isDigestReference,
  isShortName,
  type ParseReferenceOptions,
  parseReference,
  type Reference,
  repositoryOf,
  withDigest,
  withTag,
} from './reference.js';
