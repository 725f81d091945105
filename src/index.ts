/** gantry's public API. */
export * from './errors.js';
export type * from './oci/image.js';
export * from './oci/types.js';
