/** Cache keys: computed before a step runs from everything that decides its result. */
import { createDigester } from '../../oci/digest.js';

/** A cache key from its parts: each part is length-prefixed so no two part lists collide. */
export function cacheKey(parts: readonly (string | undefined)[]): string {
  const d = createDigester('sha256');
  for (const part of parts) {
    const bytes = Buffer.from(part ?? '\u0000undefined', 'utf8');
    d.update(Buffer.from(`${bytes.length}:`));
    d.update(bytes);
  }
  return d.digest();
}
