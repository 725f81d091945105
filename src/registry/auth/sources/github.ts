/**
 * GITHUB_TOKEN for ghcr.io, as GitHub Actions provides it; the username is GITHUB_ACTOR when set
 * (GHCR ignores it for token logins, but some proxies log it), else "token".
 */
import type { Credential } from '../credential.js';
import { normalizeRegistry } from '../hosts.js';
import type { CredentialSource } from './source.js';

const GHCR = 'ghcr.io';

export function githubTokenSource(env: NodeJS.ProcessEnv): CredentialSource {
  return {
    name: 'GITHUB_TOKEN',
    async resolve(registry) {
      const token = env.GITHUB_TOKEN;
      if (!token || normalizeRegistry(registry) !== GHCR) return undefined;
      const cred: Credential = { username: env.GITHUB_ACTOR || 'token', password: token, source: 'env GITHUB_TOKEN' };
      return cred;
    },
  };
}
