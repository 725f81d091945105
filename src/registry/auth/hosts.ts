/**
 * How credential files name registries. Docker writes keys as URLs ('https://index.docker.io/v1/',
 * 'http://localhost:5000/v2/') or hosts; containers' auth.json adds 'host/namespace' keys. Both
 * compare by host after Docker Hub's aliases collapse to 'docker.io', as docker and podman do.
 */
import { DOCKER_HUB, normalizeRegistryHost } from '../../reference/index.js';

/** The key docker itself writes for Docker Hub, in config.json and in credential helpers. */
export const DOCKER_HUB_SERVER_URL = 'https://index.docker.io/v1/';

/** 'https://index.docker.io/v1/' -> 'docker.io'; 'HTTP://Localhost:5000/v2/' -> 'localhost:5000'. */
export function normalizeRegistry(key: string): string {
  const { host } = splitKey(key);
  return host;
}

/** The host and the namespace path (auth.json 'quay.io/team/app' keys) of a credential key. URL keys have no namespace. */
export function splitKey(key: string): { host: string; path: string } {
  let rest = key.trim();
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(rest);
  if (scheme) rest = rest.slice(scheme[0].length);
  const slash = rest.indexOf('/');
  const host = normalizeRegistryHost(slash === -1 ? rest : rest.slice(0, slash));
  // URL keys carry API paths (/v1/, /v2/), never namespaces.
  const path = scheme || slash === -1 ? '' : rest.slice(slash + 1).replace(/\/+$/, '');
  return { host, path };
}

/** The server URL docker passes to credential helpers and writes in config.json for this registry. */
export function serverUrlFor(registry: string): string {
  const host = normalizeRegistry(registry);
  return host === DOCKER_HUB ? DOCKER_HUB_SERVER_URL : host;
}

export function isDockerHub(registry: string): boolean {
  return normalizeRegistry(registry) === DOCKER_HUB;
}
