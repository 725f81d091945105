/**
 * Registry host names: the one place that knows Docker Hub's several names. A reference keeps
 * what docker's reference grammar keeps (only the legacy `index.docker.io` becomes `docker.io`;
 * `registry-1.docker.io/app` stays as written), while credential keys, registries.toml and
 * certs.d ask "is this the same registry?" and collapse every alias.
 */

export const DOCKER_HUB = 'docker.io';
/** Docker Hub's old name ("the Docker Index"); still written in configs and scripts. */
export const DOCKER_HUB_LEGACY = 'index.docker.io';
/** docker.io is a name for clients; the registry API answers on this host. */
export const DOCKER_HUB_API = 'registry-1.docker.io';
const DOCKER_HUB_ALIASES: ReadonlySet<string> = new Set([
  DOCKER_HUB,
  DOCKER_HUB_LEGACY,
  DOCKER_HUB_API,
  'registry.hub.docker.com',
]);

export interface NormalizeHostOptions {
  /**
   * 'all' (default): every Docker Hub alias becomes docker.io and the host is lower-cased, for
   * matching settings and credentials. 'reference': only the legacy name, as a reference is parsed.
   */
  readonly aliases?: 'all' | 'reference';
}

/** The normalized form of a registry host (`host[:port]`, no scheme or path). */
export function normalizeRegistryHost(host: string, options: NormalizeHostOptions = {}): string {
  if (options.aliases === 'reference') return host === DOCKER_HUB_LEGACY ? DOCKER_HUB : host;
  const lower = host.toLowerCase();
  return DOCKER_HUB_ALIASES.has(lower) ? DOCKER_HUB : lower;
}

/** The host to contact: docker.io (or its legacy name) -> 'registry-1.docker.io'. */
export function registryHost(registry: string): string {
  return normalizeRegistryHost(registry, { aliases: 'reference' }) === DOCKER_HUB ? DOCKER_HUB_API : registry;
}
