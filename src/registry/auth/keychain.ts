/**
 * The keychain: credential sources asked in a fixed order, first answer wins — flags, environment
 * (GANTRY_*, REGISTRY_*), docker config.json (credHelpers, credsStore, auths), containers
 * auth.json, GITHUB_TOKEN for ghcr.io, a mounted Kubernetes .dockerconfigjson. Answers are
 * cached for the keychain's life (one command), so a credential helper runs once per registry.
 */
import { homedir } from 'node:os';
import type { Credential, Keychain } from './credential.js';
import { normalizeRegistry } from './hosts.js';
import { containersAuthSource } from './sources/containers-auth.js';
import { dockerConfigSource } from './sources/docker-config.js';
import { envSource } from './sources/env.js';
import { type FlagCredentials, flagsSource } from './sources/flags.js';
import { githubTokenSource } from './sources/github.js';
import { kubernetesSecretSource } from './sources/kubernetes.js';
import type { CredentialSource, ResolveOptions, SourceContext } from './sources/source.js';

export interface KeychainOptions {
  /** `--username` + `--password-stdin`; with `registry`, for that registry only. */
  readonly flags?: FlagCredentials;
  /** Default process.env. */
  readonly env?: NodeJS.ProcessEnv;
  /** Default $HOME from `env`, else the OS's home directory. */
  readonly home?: string;
  /**
   * Sources asked after all the others, only when no configured one answers: credentials that
   * come from somewhere else (an idpbuilder cluster's secret), evaluated lazily by the source.
   */
  readonly fallback?: readonly CredentialSource[];
}

/** A Keychain that also takes the repository, for sources keyed by namespace. */
export interface RepositoryKeychain extends Keychain {
  resolve(registry: string, options?: ResolveOptions): Promise<Credential | undefined>;
}

/** The keychain the CLI uses. `resolve` also accepts `{ repository }` for auth.json namespace keys. */
export function createKeychain(options: KeychainOptions = {}): RepositoryKeychain {
  const env = options.env ?? process.env;
  const context: SourceContext = { env, home: options.home ?? (env.HOME || homedir()) };
  const sources: CredentialSource[] = [];
  if (options.flags !== undefined) sources.push(flagsSource(options.flags));
  sources.push(
    envSource(env),
    dockerConfigSource(context),
    containersAuthSource(context),
    githubTokenSource(env),
    kubernetesSecretSource(context),
    ...(options.fallback ?? []),
  );
  return keychainFromSources(sources);
}

/** A keychain over any sources, in order. */
export function keychainFromSources(sources: readonly CredentialSource[]): RepositoryKeychain {
  const cache = new Map<string, Promise<Credential | undefined>>();
  const lookup = async (registry: string, options: ResolveOptions): Promise<Credential | undefined> => {
    for (const source of sources) {
      const cred = await source.resolve(registry, options);
      if (cred !== undefined) return cred;
    }
    return undefined;
  };
  return {
    resolve(registry, options = {}) {
      const key = `${normalizeRegistry(registry)}\n${options.repository ?? ''}`;
      let pending = cache.get(key);
      if (pending === undefined) {
        pending = lookup(registry, options);
        cache.set(key, pending);
        // A failure (a bad file, an abort) is not an answer: the next call tries again.
        pending.catch(() => cache.delete(key));
      }
      return pending;
    },
  };
}
