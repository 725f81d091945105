/**
 * Logging in and out the way `docker login` does, so docker, podman and gantry share one login:
 * the credential is checked against the registry first (`GET /v2/` with it) and stored only when
 * the registry accepts it, so a typo never replaces a working login.
 */

import type { StoredIn } from '../registry/auth/index.js';
import { removeCredential, login as storeLogin } from '../registry/auth/index.js';
import { registryError } from '../registry/errors.js';
import { createRegistryTransport, registryBaseUrl } from '../registry/transport/index.js';
import { callerReference } from './input.js';
import { type CommonOptions, sessionOf } from './session.js';

/** `https://ghcr.io/` or `ghcr.io` -> `ghcr.io`; docker.io's aliases -> `docker.io`. */
export function registryHostOf(value: string): string {
  const host = value.replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '');
  return callerReference(`${host}/x`).registry;
}

export interface LoginOptions extends CommonOptions {
  readonly username: string;
  /** The password or token. */
  readonly password: string;
}

export interface LoggedIn {
  readonly registry: string;
  /** Where the credential went: a credential helper, or the docker config file. */
  readonly storedIn: StoredIn;
}

/** Checks a credential against a registry, then stores it. */
export async function login(registry: string, options: LoginOptions): Promise<LoggedIn> {
  const host = registryHostOf(registry);
  const credential = { username: options.username, password: options.password, source: 'gantry login' };
  const transport = await sessionOf(options).transport();
  const storedIn = await storeLogin(host, credential, {
    ...(options.signal ? { signal: options.signal } : {}),
    verify: async (cred) => {
      const rt = createRegistryTransport(host, { ...transport, keychain: { resolve: async () => cred } });
      const base = await registryBaseUrl(host, transport);
      const res = await rt({
        method: 'GET',
        url: new URL('/v2/', base),
        ...(options.signal ? { signal: options.signal } : {}),
      });
      if (res.status !== 200) throw await registryError(res, { registry: host });
      await res.discard();
    },
  });
  return { registry: host, storedIn };
}

/** Removes the stored credential of a registry; `removed` is false when there was none. */
export async function logout(
  registry: string,
  options: Pick<CommonOptions, 'signal'> = {},
): Promise<{ readonly registry: string; readonly removed: boolean }> {
  const host = registryHostOf(registry);
  const removed = await removeCredential(host, options.signal ? { signal: options.signal } : {});
  return { registry: host, removed };
}
