/** Registry operations over whole images: push, pull into a layout, copy, referrers. */
export { type CopyOptions, copyImage } from './copy.js';
export { type PullOptions, pullItemToLayout, pullToLayout } from './pull.js';
export { type PushImageOptions, pushImage } from './push.js';
export { pushReferrer, pushReferrers, type ReferrerArtifact } from './referrer.js';
