/**
 * Credentials given on the command line (`--username` + `--password-stdin`). With `registry`
 * they apply to that registry only; without, to every registry the command talks to.
 */
import type { Credential } from '../credential.js';
import { normalizeRegistry } from '../hosts.js';
import type { CredentialSource } from './source.js';

export interface FlagCredentials {
  readonly registry?: string;
  readonly username: string;
  readonly password: string;
}

export function flagsSource(flags: FlagCredentials): CredentialSource {
  const only = flags.registry === undefined ? undefined : normalizeRegistry(flags.registry);
  const cred: Credential = { username: flags.username, password: flags.password, source: 'flags' };
  return {
    name: 'flags',
    async resolve(registry) {
      if (only !== undefined && normalizeRegistry(registry) !== only) return undefined;
      return cred;
    },
  };
}
