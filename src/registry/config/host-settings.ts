/**
 * Per-host transport settings, merged from three places. Precedence: the command's flags
 * (--insecure, --plain-http: every host of one command) over registries.toml (http, insecure,
 * ca) over certs.d (CAs and a client certificate). CAs add up: the registries.toml `ca` first,
 * then the certs.d ones. Settings are read once per host per resolver. Blocks from containers
 * registries.conf ride along for the HTTP layer to enforce on every request.
 */
import { readFile } from 'node:fs/promises';
import { GantryError } from '../../errors.js';
import type { HostSettings } from '../transport/types.js';
import { defaultCertsDirs, loadCertsFor } from './certs.js';
import { blockedPrefixes, EMPTY_REGISTRIES_CONFIG, type RegistriesConfig, registryConfigFor } from './registries.js';

export interface HostSettingsOptions {
  readonly config?: RegistriesConfig;
  /** certs.d roots; default /etc/docker/certs.d, ~/.docker/certs.d, /etc/containers/certs.d. */
  readonly certsDirs?: readonly string[];
  /** --insecure: skip TLS verification for every host. */
  readonly insecure?: boolean;
  /** --plain-http: plain HTTP for every host. */
  readonly plainHttp?: boolean;
  /**
   * CAs for a TLS host that has none configured (no registries.toml ca, no certs.d CA, not
   * insecure), asked lazily once per host: e.g. the CA of an idpbuilder cluster's Gitea.
   */
  readonly fallbackCa?: (host: string) => Promise<readonly Buffer[] | undefined>;
}

/** A HostSettingsResolver (always async: it reads files once per host). */
export function createHostSettings(options: HostSettingsOptions = {}): (host: string) => Promise<HostSettings> {
  const config = options.config ?? EMPTY_REGISTRIES_CONFIG;
  const dirs = options.certsDirs ?? defaultCertsDirs();
  const cache = new Map<string, Promise<HostSettings>>();
  const settle = async (host: string): Promise<HostSettings> => {
    const certs = await loadCertsFor(host, dirs);
    const registry = registryConfigFor(config, host);
    const ca: Buffer[] = [];
    if (registry?.ca !== undefined) ca.push(await readCa(registry.ca, config.path));
    ca.push(...certs.ca);
    const settings: { -readonly [K in keyof HostSettings]: HostSettings[K] } = {};
    const plainHttp = options.plainHttp || registry?.http;
    const insecure = options.insecure || registry?.insecure;
    if (plainHttp !== undefined) settings.plainHttp = plainHttp;
    if (insecure !== undefined) settings.insecure = insecure;
    if (ca.length === 0 && !plainHttp && !insecure && options.fallbackCa)
      ca.push(...((await options.fallbackCa(host)) ?? []));
    if (ca.length > 0) settings.ca = ca;
    if (certs.clientCert !== undefined) settings.clientCert = certs.clientCert;
    const blocked = blockedPrefixes(config, host);
    if (blocked.length > 0) settings.blocked = blocked;
    return Object.freeze(settings);
  };
  return (host) => {
    const key = host.toLowerCase();
    let pending = cache.get(key);
    if (pending === undefined) {
      pending = settle(host);
      cache.set(key, pending);
      pending.catch(() => cache.delete(key));
    }
    return pending;
  };
}

async function readCa(path: string, configPath: string | undefined): Promise<Buffer> {
  const where = configPath === undefined ? 'registries.toml' : configPath;
  let pem: Buffer;
  try {
    pem = await readFile(path);
  } catch (err) {
    throw new GantryError('BAD_CONFIG', `${where}: cannot read ca ${path}: ${(err as Error).message}`, {
      phase: 'config',
      suggestion: 'fix the ca path in registries.toml',
      cause: err,
    });
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new GantryError('BAD_CONFIG', `${where}: ca ${path} holds no PEM certificate`, {
      phase: 'config',
      suggestion: 'point ca at a PEM file (-----BEGIN CERTIFICATE-----)',
    });
  }
  return pem;
}
