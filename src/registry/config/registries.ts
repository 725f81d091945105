/**
 * registries.toml: per-registry settings. Found at $GANTRY_CONFIG, else
 * $XDG_CONFIG_HOME/gantry/registries.toml, else ~/.config/gantry/registries.toml. Format:
 *
 *   [registry."localhost:5000"]
 *   http = true                       # plain HTTP
 *   insecure = false                  # HTTPS without certificate verification
 *   ca = "/path/ca.pem"               # an extra CA (PEM); relative to this file, or ~/...
 *   mirrors = ["mirror.local:5001", "mirror2.local"]   # tried in order before the upstream for pulls
 *
 * Hosts are host[:port]; docker.io, index.docker.io and registry-1.docker.io are one registry.
 * A mirror's own settings (http, ca, ...) come from its own [registry."mirror"] table. Unknown
 * keys are errors: a typo ("insecrue") must not silently leave a setting off.
 *
 * The containers registries.conf files (containers.ts) are read too. Precedence, per registry
 * host: a [registry."HOST"] table here replaces what registries.conf says of that host (insecure,
 * mirrors); a registries.conf `blocked` always applies, since gantry's file cannot say otherwise.
 */
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import type { TomlTable, TomlValue } from 'smol-toml';
import { GantryError, type IoOptions } from '../../errors.js';
import { normalizeRegistry } from '../auth/hosts.js';
import {
  type ContainersRegistriesConf,
  type ContainersRegistry,
  hostOf,
  type LoadContainersConfOptions,
  loadContainersRegistriesConf,
  prefixCovers,
} from './containers.js';
import { parseTomlFile, showValue } from './toml-file.js';

export interface RegistryConfig {
  /** Plain HTTP. */
  readonly http?: boolean;
  /** Skip TLS verification. */
  readonly insecure?: boolean;
  /** Absolute path of an extra CA bundle (PEM). */
  readonly ca?: string;
  /** Mirror hosts (host[:port]), in the order they are tried. */
  readonly mirrors: readonly string[];
}

export interface RegistriesConfig {
  /** The file it came from; undefined when there was none. */
  readonly path?: string;
  /** gantry's own settings, keyed by normalized host ('docker.io', 'localhost:5000'). */
  readonly registries: ReadonlyMap<string, RegistryConfig>;
  /** What the containers registries.conf files say; undefined when they were not read. */
  readonly containers?: ContainersRegistriesConf;
}

export const EMPTY_REGISTRIES_CONFIG: RegistriesConfig = Object.freeze({ registries: new Map() });

const HOST =
  /^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?$/i;

export interface LoadRegistriesConfigOptions extends IoOptions {
  /** An explicit file; it must exist. */
  readonly path?: string;
  /** Default process.env. */
  readonly env?: NodeJS.ProcessEnv;
  /** Default $HOME from `env`, else the OS's home directory. */
  readonly home?: string;
  /** Where the containers registries.conf files are (default: as containers/image finds them); false: not read. */
  readonly containers?: Omit<LoadContainersConfOptions, 'env' | 'home' | 'signal'> | false;
}

/** The registries.toml path for this environment, and whether the user named it (then it must exist). */
export function registriesConfigPath(options: LoadRegistriesConfigOptions = {}): { path: string; explicit: boolean } {
  if (options.path) return { path: options.path, explicit: true };
  const env = options.env ?? process.env;
  if (env.GANTRY_CONFIG) return { path: env.GANTRY_CONFIG, explicit: true };
  const home = options.home ?? (env.HOME || homedir());
  return { path: join(env.XDG_CONFIG_HOME || join(home, '.config'), 'gantry', 'registries.toml'), explicit: false };
}

/** registries.toml and the containers registries.conf files of this environment. */
export async function loadRegistriesConfig(options: LoadRegistriesConfigOptions = {}): Promise<RegistriesConfig> {
  const own = await loadOwnConfig(options);
  if (options.containers === false) return own;
  const env = options.env ?? process.env;
  const containers = await loadContainersRegistriesConf({
    ...options.containers,
    env,
    home: options.home ?? (env.HOME || homedir()),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  return Object.freeze({ ...own, containers });
}

async function loadOwnConfig(options: LoadRegistriesConfigOptions): Promise<RegistriesConfig> {
  const { path, explicit } = registriesConfigPath(options);
  let text: string;
  try {
    text = await readFile(path, { encoding: 'utf8', signal: options.signal });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ABORT_ERR') throw err;
    if ((code === 'ENOENT' || code === 'ENOTDIR') && !explicit) return EMPTY_REGISTRIES_CONFIG;
    throw configError(
      path,
      code === 'ENOENT' ? 'does not exist' : `cannot read: ${(err as Error).message}`,
      code === 'ENOENT' ? 'create it, or unset GANTRY_CONFIG' : undefined,
    );
  }
  const env = options.env ?? process.env;
  return parseRegistriesConfig(text, { path, home: options.home ?? (env.HOME || homedir()) });
}

function configError(path: string, detail: string, suggestion?: string): GantryError {
  return new GantryError('BAD_CONFIG', `${path}: ${detail}`, {
    phase: 'config',
    suggestion: suggestion ?? 'fix the file; see the registries.toml format in the gantry docs',
  });
}

function isTable(value: TomlValue | undefined): value is TomlTable {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

/** Parses and checks registries.toml text; `path` names it in errors and anchors relative `ca` paths. */
export function parseRegistriesConfig(text: string, options: { path: string; home?: string }): RegistriesConfig {
  const { path } = options;
  const doc = parseTomlFile(text, path);
  const registries = new Map<string, RegistryConfig>();
  for (const key of Object.keys(doc)) {
    if (key !== 'registry') {
      throw configError(path, `unknown top-level key '${key}'`, 'the only top-level table is [registry."HOST"]');
    }
  }
  const tables = doc.registry;
  if (tables === undefined) return { path, registries };
  if (Array.isArray(tables)) {
    throw configError(
      path,
      "'registry' must be a table of hosts, not an array of tables ([[registry]])",
      'write [registry."HOST"] tables; [[registry]] with location = ... is the containers registries.conf format, which gantry reads from /etc/containers/registries.conf and ~/.config/containers/registries.conf',
    );
  }
  if (!isTable(tables)) throw configError(path, "'registry' must be a table", 'use [registry."HOST"] tables');
  for (const [name, table] of Object.entries(tables)) {
    const where = `[registry.${JSON.stringify(name)}]`;
    if (!HOST.test(name)) {
      throw configError(path, `${where}: '${name}' is not a host[:port]`, 'quote the host: [registry."host:port"]');
    }
    if (!isTable(table)) {
      throw configError(
        path,
        `registry.${JSON.stringify(name)} must be a table`,
        'quote the host: [registry."host:port"]',
      );
    }
    const host = normalizeRegistry(name);
    if (registries.has(host)) throw configError(path, `${where}: ${host} is configured twice`);
    const config: { -readonly [K in keyof RegistryConfig]: RegistryConfig[K] } = { mirrors: [] };
    for (const [key, value] of Object.entries(table)) {
      switch (key) {
        case 'http':
        case 'insecure':
          if (typeof value !== 'boolean') {
            throw configError(path, `${where}: ${key} must be true or false, not ${showValue(value)}`);
          }
          config[key] = value;
          break;
        case 'ca':
          if (typeof value !== 'string' || value === '') {
            throw configError(path, `${where}: ca must be a file path, not ${showValue(value)}`);
          }
          config.ca = resolvePath(value, path, options.home);
          break;
        case 'mirrors':
          if (!Array.isArray(value)) throw configError(path, `${where}: mirrors must be an array of hosts`);
          config.mirrors = value.map((m) => {
            if (typeof m !== 'string' || !HOST.test(m)) {
              throw configError(
                path,
                `${where}: mirror ${showValue(m)} is not a host[:port]`,
                'write mirrors as "host[:port]" without a scheme; set http = true in the mirror\'s own [registry."HOST"] table for plain HTTP',
              );
            }
            return normalizeRegistry(m);
          });
          break;
        default:
          throw configError(
            path,
            `${where}: unknown key '${key}'`,
            'the keys of a registry table are http, insecure, ca and mirrors',
          );
      }
    }
    registries.set(host, Object.freeze(config));
  }
  return { path, registries };
}

function resolvePath(value: string, configPath: string, home: string | undefined): string {
  if (value === '~' || value.startsWith('~/')) return join(home ?? homedir(), value.slice(1));
  return isAbsolute(value) ? value : resolve(dirname(configPath), value);
}

/** The registries.conf entry for a host itself (not a repository prefix), exact before wildcard. */
function containersEntryFor(conf: ContainersRegistriesConf, host: string): ContainersRegistry | undefined {
  let best: ContainersRegistry | undefined;
  for (const r of conf.registries) {
    if (r.location !== r.prefix || hostOf(r.prefix) !== r.prefix) continue;
    if (!prefixCovers(r.prefix, host, '')) continue;
    if (
      !best ||
      (best.prefix.startsWith('*.') && (!r.prefix.startsWith('*.') || r.prefix.length > best.prefix.length))
    ) {
      best = r;
    }
  }
  return best;
}

/**
 * The settings for a registry host: its registries.toml table if it has one, else what the
 * containers registries.conf files say of it (as a registry, or as an insecure mirror of another).
 */
export function registryConfigFor(config: RegistriesConfig, registry: string): RegistryConfig | undefined {
  const host = normalizeRegistry(registry);
  const own = config.registries.get(host);
  if (own !== undefined || config.containers === undefined) return own;
  const entry = containersEntryFor(config.containers, host);
  const mirrorInsecure = config.containers.registries.some((r) =>
    r.mirrors.some((m) => m.insecure === true && m.location === host),
  );
  if (entry === undefined && !mirrorInsecure) return undefined;
  const mirrors = (entry?.mirrors ?? []).filter((m) => hostOf(m.location) === m.location).map((m) => m.location);
  if (!entry?.insecure && !mirrorInsecure && mirrors.length === 0) return undefined;
  return Object.freeze({ ...(entry?.insecure || mirrorInsecure ? { insecure: true } : {}), mirrors });
}

/** The registries.conf entry that blocks `registry/repository` ('' = the registry itself), if any. */
export function blockedBy(
  config: RegistriesConfig,
  registry: string,
  repository = '',
): { readonly prefix: string; readonly file: string } | undefined {
  const hit = config.containers?.registries.find(
    (r) =>
      r.blocked === true &&
      prefixCovers(r.prefix, registry, repository) &&
      (repository !== '' || hostOf(r.prefix) === r.prefix),
  );
  return hit && { prefix: hit.prefix, file: hit.file };
}

/** Repository prefixes blocked on a host ('' for the whole host), with the file that blocks each. */
export function blockedPrefixes(config: RegistriesConfig, registry: string): { prefix: string; file: string }[] {
  const host = normalizeRegistry(registry);
  return (config.containers?.registries ?? [])
    .filter((r) => r.blocked === true && prefixCovers(hostOf(r.prefix), host, ''))
    .map((r) => ({ prefix: r.prefix.slice(hostOf(r.prefix).length + 1), file: r.file }));
}

/**
 * The registries a short name ('alpine', 'team/app') may mean, in order: registries.conf's
 * `unqualified-search-registries` when a file sets a non-empty list, else docker.io alone. As in
 * containers/image, a pull tries them in order and a push or delete needs exactly one (see
 * src/api/short-names.ts). Dockerfile FROM lines always mean docker.io, as in BuildKit.
 */
export function searchRegistries(config: RegistriesConfig): readonly string[] {
  const list = config.containers?.unqualifiedSearchRegistries ?? [];
  return list.length === 0 ? ['docker.io'] : list.map((r) => normalizeRegistry(r));
}

/** Every registry config file that was read, in the order read (for `gantry info`). */
export function configFilesRead(config: RegistriesConfig): string[] {
  return [...(config.path === undefined ? [] : [config.path]), ...(config.containers?.files ?? [])];
}

/** The mirrors to try, in order, before the registry itself when pulling. */
export function mirrorsFor(config: RegistriesConfig, registry: string): string[] {
  return [...(registryConfigFor(config, registry)?.mirrors ?? [])];
}
