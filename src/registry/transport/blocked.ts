/**
 * Blocked registries and repositories (containers registries.conf `blocked = true`, carried in
 * HostSettings): a request to one is refused before anything is sent, redirects included.
 */
import { GantryError } from '../../errors.js';
import type { HostSettings } from './types.js';

/** The repository a registry API path names: /v2/<name>/(manifests|blobs|tags|referrers)/... */
function repositoryOfPath(pathname: string): string {
  const m = /^\/v2\/(.+?)\/(?:manifests|blobs|tags|referrers)\//.exec(pathname);
  return m?.[1] ?? '';
}

export function refuseBlocked(url: URL, blocked: NonNullable<HostSettings['blocked']>): void {
  const repository = repositoryOfPath(url.pathname);
  const hit = blocked.find(
    (b) => b.prefix === '' || (repository !== '' && (repository === b.prefix || repository.startsWith(`${b.prefix}/`))),
  );
  if (!hit) return;
  const what = hit.prefix === '' ? url.host : `${url.host}/${hit.prefix}`;
  throw new GantryError('REGISTRY_BLOCKED', `${what} is blocked by ${hit.file}`, {
    phase: 'config',
    suggestion: `use another registry, or remove blocked = true from the [[registry]] entry for ${what} in ${hit.file}`,
  });
}
