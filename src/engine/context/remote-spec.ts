/** Which contexts are remote (engine/context/remote.ts), apart from the fetching and unpacking: a local build loads only this. */
import { statSync } from 'node:fs';

/**
 * True when `spec` names a context that is fetched or unpacked rather than a local directory: `-`,
 * a URL, or a local file (a tar or tar.gz of the context, as Kaniko's `tar://` and the kubernetes
 * driver's ConfigMap give it).
 */
export function isRemoteContext(spec: string): boolean {
  return (
    spec === '-' ||
    /^(https?|git|ssh):\/\//i.test(spec) ||
    /^git@[^:]+:/.test(spec) ||
    statSync(spec, { throwIfNoEntry: false })?.isFile() === true
  );
}
