/**
 * Credentials from the environment, for CI: GANTRY_USERNAME/GANTRY_PASSWORD, then
 * REGISTRY_USERNAME/REGISTRY_PASSWORD. A pair applies to every registry unless GANTRY_REGISTRY
 * (for the GANTRY_ pair) or REGISTRY (for the REGISTRY_ pair) names one host; then it applies to
 * that host only. Naming the host is the safer habit: an unscoped pair is offered to every
 * registry a command contacts (a copy from Docker Hub to GHCR offers it to both).
 */
import { GantryError } from '../../../errors.js';
import type { Credential } from '../credential.js';
import { normalizeRegistry } from '../hosts.js';
import type { CredentialSource } from './source.js';

const PAIRS = [
  { user: 'GANTRY_USERNAME', pass: 'GANTRY_PASSWORD', scope: 'GANTRY_REGISTRY' },
  { user: 'REGISTRY_USERNAME', pass: 'REGISTRY_PASSWORD', scope: 'REGISTRY' },
] as const;

export function envSource(env: NodeJS.ProcessEnv): CredentialSource {
  return {
    name: 'env',
    async resolve(registry) {
      for (const pair of PAIRS) {
        const username = env[pair.user];
        const password = env[pair.pass];
        if (!username && !password) continue;
        const scope = env[pair.scope];
        if (scope && normalizeRegistry(scope) !== normalizeRegistry(registry)) continue;
        if (!username || !password) {
          const [set, unset] = username ? [pair.user, pair.pass] : [pair.pass, pair.user];
          throw new GantryError('INCOMPLETE_CREDENTIALS', `${set} is set but ${unset} is not`, {
            phase: 'config',
            suggestion: `set both ${pair.user} and ${pair.pass}, or unset ${set}`,
          });
        }
        const cred: Credential = { username, password, source: `env ${pair.user}` };
        return cred;
      }
      return undefined;
    },
  };
}
