/** The OCI model: spec types, digests, platforms, validation, lazy images, mutation, image layouts. */
export * from './compression.js';
export * from './digest.js';
export type * from './image.js';
export * from './layout.js';
export * from './mutate.js';
export * from './parse.js';
export * from './partial.js';
export * from './platform.js';
export * from './stream.js';
export * from './types.js';
