/**
 * The idpbuilder cluster as a lazily-evaluated credential source and CA provider for the registry
 * client: a host that the user configured nothing for, and that may be the cluster's Gitea, gets
 * the admin credential and the cluster CA. The cluster is only asked about candidate hosts (the
 * default Gitea host, `gitea.*`, `*.localtest.me`, or the host an explicit `--idpbuilder` found),
 * so `gantry pull docker.io/...` never talks to Kubernetes.
 */
import { GantryError } from '../../errors.js';
import type { Credential } from '../../registry/auth/credential.js';
import { normalizeRegistry } from '../../registry/auth/hosts.js';
import type { CredentialSource } from '../../registry/auth/sources/source.js';
import { kubeconfigSource } from '../kubernetes/client.js';
import { DEFAULT_GITEA, type DiscoverOptions, type IdpbuilderCluster, idpbuilderCluster } from './discover.js';

export interface IdpbuilderHooks {
  /** For createKeychain({ fallback }). */
  readonly credentials: CredentialSource;
  /** For createHostSettings({ fallbackCa }). */
  readonly ca: (host: string) => Promise<readonly Buffer[] | undefined>;
  /** The cluster behind `host`, when it is the cluster's Gitea; undefined for any other host. */
  giteaFor(host: string): Promise<IdpbuilderCluster | undefined>;
}

export interface HookOptions extends Omit<DiscoverOptions, 'signal'> {
  /** `--idpbuilder` was given: discovery failures are errors for every candidate host. */
  readonly explicit?: boolean;
}

/** Whether `host` could be an idpbuilder Gitea, judged from its name alone. */
export function isCandidateHost(host: string): boolean {
  const name = host.toLowerCase().replace(/:\d+$/, '');
  return (
    host.toLowerCase() === DEFAULT_GITEA.registry ||
    name.startsWith('gitea.') ||
    name === 'localtest.me' ||
    name.endsWith('.localtest.me')
  );
}

export function idpbuilderHooks(options: HookOptions = {}): IdpbuilderHooks {
  const env = options.env ?? process.env;
  const discover = () =>
    idpbuilderCluster({ env, ...(options.context !== undefined ? { context: options.context } : {}) });

  const giteaFor = async (host: string): Promise<IdpbuilderCluster | undefined> => {
    const wanted = normalizeRegistry(host).toLowerCase();
    if (!isCandidateHost(wanted)) return undefined;
    // Without any kubeconfig there is no cluster to ask: the host is someone else's Gitea.
    const isDefault = wanted === DEFAULT_GITEA.registry;
    if (kubeconfigSource(env) === undefined && !isDefault && !options.explicit) return undefined;
    try {
      const cluster = await discover();
      return cluster.registry.toLowerCase() === wanted ? cluster : undefined;
    } catch (err) {
      // The default idpbuilder host (or --idpbuilder) means the user wants the cluster: say why it
      // is not there. Any other candidate may be a Gitea that has nothing to do with Kubernetes.
      if (isDefault || options.explicit) throw err;
      if (GantryError.is(err)) return undefined;
      throw err;
    }
  };

  return {
    giteaFor,
    credentials: {
      name: 'idpbuilder cluster',
      async resolve(registry): Promise<Credential | undefined> {
        return (await giteaFor(registry))?.credential;
      },
    },
    async ca(host) {
      const cluster = await giteaFor(host);
      return cluster ? [cluster.ca] : undefined;
    },
  };
}
