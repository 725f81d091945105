/** The reference module's public surface: image reference parsing, normalization and printing. */
export { ReferenceError, type ReferencePart } from './error.js';
export {
  familiarName,
  formatReference,
  isDigestReference,
  type ParseReferenceOptions,
  parseReference,
  type Reference,
  registryHost,
  repositoryOf,
  withDigest,
  withTag,
} from './reference.js';
