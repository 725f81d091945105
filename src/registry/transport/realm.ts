/**
 * Realm policy: may a registry's credentials go to the token service its challenge names? A
 * registry (or anyone who can answer for it) picks the realm URL, so a malicious realm would
 * otherwise collect the user's password. Credentials go only to the registry's own host or its
 * parent domain (auth.docker.io for registry-1.docker.io), the same IP for IP registries, and
 * only over https unless the registry itself speaks plain http.
 */
import { isIP } from 'node:net';

export type RealmVerdict = { readonly allowed: true } | { readonly allowed: false; readonly reason: string };

function bareHost(hostname: string): string {
  return hostname
    .replace(/^\[|\]$/g, '')
    .replace(/\.$/, '')
    .toLowerCase();
}

/**
 * The domain a host's siblings share: the host without its first label, as long as two labels
 * remain (registry-1.docker.io -> docker.io; docker.io -> docker.io; foo.co.uk -> foo.co.uk).
 * Keeping at least the host's own last two labels means a registry under a public suffix cannot
 * vouch for every other site under it.
 */
function parentDomain(host: string): string {
  const labels = host.split('.');
  return labels.length > 2 ? labels.slice(1).join('.') : host;
}

/** Whether `realm` may receive the credentials of the registry reached at `registryUrl`. */
export function realmPolicy(realm: URL, registryUrl: URL): RealmVerdict {
  const realmHost = bareHost(realm.hostname);
  const regHost = bareHost(registryUrl.hostname);
  if (realm.protocol !== 'https:') {
    if (realm.protocol !== 'http:') return { allowed: false, reason: `its scheme ${realm.protocol} is not https` };
    if (registryUrl.protocol !== 'http:') {
      return { allowed: false, reason: 'it is plain http while the registry uses https' };
    }
  }
  if (realmHost === regHost) return { allowed: true };
  if (isIP(realmHost) !== 0 || isIP(regHost) !== 0) {
    return { allowed: false, reason: `it is not the registry's address ${regHost}` };
  }
  const parent = parentDomain(regHost);
  if (!parent.includes('.')) return { allowed: false, reason: `it is not the registry's host ${regHost}` };
  if (realmHost === parent || realmHost.endsWith(`.${parent}`)) return { allowed: true };
  return { allowed: false, reason: `it is outside the registry's domain ${parent}` };
}
