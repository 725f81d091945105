/**
 * containers-registries.conf (v2, and v1's [registries.*] lists), the file buildah, podman and
 * skopeo read. Which files, as containers/image picks them: $CONTAINERS_REGISTRIES_CONF if set,
 * else the user's $XDG_CONFIG_HOME/containers/registries.conf (or ~/.config/...) if it exists
 * (then only the user's drop-in directory is read), else /etc/containers/registries.conf; then the
 * drop-ins `registries.conf.d/*.conf` in name order (/etc/containers's, then the user's), each
 * overriding the registries it names.
 *
 * What gantry takes from them: per registry host `insecure`, `blocked` and `[[registry.mirror]]`
 * (mirrors that are plain hosts), blocks of repository prefixes (`prefix = "host/team"`),
 * `unqualified-search-registries`. Entries gantry cannot honour (a `location` that remaps its
 * prefix, a mirror with a path, wildcard prefixes that are not blocks) are listed in `ignored`.
 * Keys these tools define that gantry does not use (aliases, short-name-mode, credential-helpers,
 * mirror-by-digest-only, pull-from-mirror) are accepted; an unknown key inside a [[registry]]
 * table is an error, because a typo there ("blokced") would silently drop a block.
 */
import { readdir, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { GantryError, type IoOptions } from '../../errors.js';
import { normalizeRegistry } from '../auth/hosts.js';
import { parseTomlFile, showValue } from './toml-file.js';

export interface ContainersMirror {
  readonly location: string;
  readonly insecure?: boolean;
}

export interface ContainersRegistry {
  /** What the entry applies to: 'host[:port]', 'host/repo/prefix' or '*.domain'. */
  readonly prefix: string;
  readonly location: string;
  readonly insecure?: boolean;
  readonly blocked?: boolean;
  readonly mirrors: readonly ContainersMirror[];
  /** The file it came from. */
  readonly file: string;
}

export interface ContainersRegistriesConf {
  /** The files read, in order. */
  readonly files: readonly string[];
  /** One entry per prefix; a later file's entry replaced an earlier one. */
  readonly registries: readonly ContainersRegistry[];
  /** undefined when no file set it. */
  readonly unqualifiedSearchRegistries?: readonly string[];
  /** What gantry read but cannot honour, one line each (for `gantry info`). */
  readonly ignored: readonly string[];
}

export const EMPTY_CONTAINERS_CONF: ContainersRegistriesConf = Object.freeze({
  files: [],
  registries: [],
  ignored: [],
});

export interface LoadContainersConfOptions extends IoOptions {
  /** Default process.env. */
  readonly env?: NodeJS.ProcessEnv;
  /** Default $HOME from `env`, else the OS's home directory. */
  readonly home?: string;
  /** The system file; default /etc/containers/registries.conf (its drop-ins: the same path + '.d'). */
  readonly systemFile?: string;
}

const SYSTEM_FILE = '/etc/containers/registries.conf';

/** The main file and the drop-in directories, in the order containers/image reads them. */
export async function containersConfPaths(
  options: LoadContainersConfOptions = {},
): Promise<{ main: string; explicit: boolean; dropIns: string[] }> {
  const env = options.env ?? process.env;
  const home = options.home ?? (env.HOME || homedir());
  const userDir = join(env.XDG_CONFIG_HOME || join(home, '.config'), 'containers');
  const systemFile = options.systemFile ?? SYSTEM_FILE;
  const dropIns = [`${systemFile}.d`, join(userDir, 'registries.conf.d')];
  if (env.CONTAINERS_REGISTRIES_CONF) return { main: env.CONTAINERS_REGISTRIES_CONF, explicit: true, dropIns };
  const userFile = join(userDir, 'registries.conf');
  if (await exists(userFile, options.signal)) {
    return { main: userFile, explicit: false, dropIns: [join(userDir, 'registries.conf.d')] };
  }
  return { main: systemFile, explicit: false, dropIns };
}

async function exists(path: string, signal: AbortSignal | undefined): Promise<boolean> {
  try {
    await readFile(path, { signal });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ABORT_ERR') throw err;
    return false;
  }
}

function confError(path: string, detail: string, suggestion: string): GantryError {
  return new GantryError('BAD_CONFIG', `${path}: ${detail}`, { phase: 'config', suggestion });
}

async function readIfThere(path: string, explicit: boolean, signal?: AbortSignal): Promise<string | undefined> {
  try {
    return await readFile(path, { encoding: 'utf8', signal });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ABORT_ERR') throw err;
    if ((code === 'ENOENT' || code === 'ENOTDIR') && !explicit) return undefined;
    throw confError(
      path,
      code === 'ENOENT' ? 'does not exist' : `cannot read: ${(err as Error).message}`,
      code === 'ENOENT' ? 'create it, or unset CONTAINERS_REGISTRIES_CONF' : 'make the file readable or remove it',
    );
  }
}

/** Reads the containers registries.conf files of this environment and merges them. */
export async function loadContainersRegistriesConf(
  options: LoadContainersConfOptions = {},
): Promise<ContainersRegistriesConf> {
  const { main, explicit, dropIns } = await containersConfPaths(options);
  const parts: { path: string; text: string }[] = [];
  const mainText = await readIfThere(main, explicit, options.signal);
  if (mainText !== undefined) parts.push({ path: main, text: mainText });
  for (const dir of dropIns) {
    let names: string[];
    try {
      names = (await readdir(dir)).filter((n) => n.endsWith('.conf')).sort();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') continue;
      throw confError(dir, `cannot read: ${(err as Error).message}`, 'make the directory readable or remove it');
    }
    for (const name of names) {
      const path = join(dir, name);
      const text = await readIfThere(path, false, options.signal);
      if (text !== undefined) parts.push({ path, text });
    }
  }
  return mergeContainersConfs(parts.map(({ path, text }) => parseContainersRegistriesConf(text, path)));
}

/** Later files override earlier ones: an entry per prefix, and the search list as a whole. */
export function mergeContainersConfs(confs: readonly ContainersRegistriesConf[]): ContainersRegistriesConf {
  const byPrefix = new Map<string, ContainersRegistry>();
  let search: readonly string[] | undefined;
  const files: string[] = [];
  const ignored: string[] = [];
  for (const conf of confs) {
    files.push(...conf.files);
    ignored.push(...conf.ignored);
    for (const r of conf.registries) byPrefix.set(r.prefix, r);
    if (conf.unqualifiedSearchRegistries !== undefined) search = conf.unqualifiedSearchRegistries;
  }
  return Object.freeze({
    files,
    registries: [...byPrefix.values()],
    ...(search === undefined ? {} : { unqualifiedSearchRegistries: search }),
    ignored,
  });
}

type Table = Record<string, unknown>;

function isTable(v: unknown): v is Table {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

/** Top-level keys of containers-registries.conf(5) that gantry accepts without using. */
const UNUSED_TOP_LEVEL = new Set(['short-name-mode', 'aliases', 'credential-helpers']);
const UNUSED_REGISTRY_KEYS = new Set(['mirror-by-digest-only', 'pull-from-mirror']);

const HOST_PATH =
  /^(?:\*\.)?[a-z0-9]([a-z0-9.-]*[a-z0-9])?(?::[0-9]{1,5})?(?:\/[a-z0-9._/-]+)?$|^\[[0-9a-f:.]+\](?::[0-9]{1,5})?(?:\/[a-z0-9._/-]+)?$/i;

/** The host part of 'host[:port][/path]'. */
export function hostOf(location: string): string {
  const slash = location.indexOf('/');
  return slash < 0 ? location : location.slice(0, slash);
}

function normalizeLocation(location: string): string {
  const host = hostOf(location);
  return `${normalizeRegistry(host)}${location.slice(host.length)}`.replace(/\/+$/, '');
}

/** Parses one containers registries.conf file; `path` names it in errors. */
export function parseContainersRegistriesConf(text: string, path: string): ContainersRegistriesConf {
  const doc = parseTomlFile(text, path) as Table;
  const registries: ContainersRegistry[] = [];
  const ignored: string[] = [];
  let search: string[] | undefined;
  const stringList = (value: unknown, key: string): string[] => {
    if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
      throw confError(path, `${key} must be an array of strings, not ${showValue(value)}`, 'write ["host", ...]');
    }
    return value as string[];
  };
  for (const [key, value] of Object.entries(doc)) {
    if (key === 'unqualified-search-registries') {
      search = stringList(value, key).map((h) => normalizeRegistry(h));
    } else if (key === 'registry') {
      if (!Array.isArray(value)) {
        throw confError(path, `'registry' must be an array of tables ([[registry]])`, 'write [[registry]] tables');
      }
      for (const [i, entry] of value.entries()) registries.push(parseRegistry(entry, `[[registry]] #${i + 1}`, path));
    } else if (key === 'registries') {
      // Version 1: [registries.search] / [registries.insecure] / [registries.block], each `registries = [...]`.
      if (!isTable(value)) throw confError(path, "'registries' must be a table", 'see containers-registries.conf(5)');
      for (const [kind, table] of Object.entries(value)) {
        const list = isTable(table) ? stringList(table.registries ?? [], `registries.${kind}.registries`) : undefined;
        if (list === undefined || !['search', 'insecure', 'block'].includes(kind)) {
          throw confError(
            path,
            `unknown table [registries.${kind}]`,
            'version 1 has [registries.search], [registries.insecure] and [registries.block]',
          );
        }
        if (kind === 'search') search = list.map((h) => normalizeRegistry(h));
        for (const host of kind === 'search' ? [] : list) {
          const location = normalizeLocation(host);
          registries.push({
            prefix: location,
            location,
            mirrors: [],
            file: path,
            ...(kind === 'insecure' ? { insecure: true } : { blocked: true }),
          });
        }
      }
    } else if (!UNUSED_TOP_LEVEL.has(key)) {
      // Newer containers tools add top-level settings; they do not concern gantry.
      ignored.push(`${path}: top-level key '${key}' is not used by gantry`);
    }
  }
  for (const r of registries) {
    if (r.location !== r.prefix && !r.blocked) {
      ignored.push(`${path}: prefix ${r.prefix} -> location ${r.location}: remapping is not supported by gantry`);
    }
    for (const m of r.mirrors) {
      if (hostOf(m.location) !== m.location) {
        ignored.push(`${path}: mirror ${m.location} of ${r.prefix}: mirrors with a path are not supported by gantry`);
      }
    }
  }
  return Object.freeze({
    files: [path],
    registries,
    ...(search === undefined ? {} : { unqualifiedSearchRegistries: search }),
    ignored,
  });
}

function parseRegistry(entry: unknown, where: string, path: string): ContainersRegistry {
  if (!isTable(entry)) throw confError(path, `${where} must be a table`, 'write [[registry]] tables');
  let location: string | undefined;
  let prefix: string | undefined;
  const out: { insecure?: boolean; blocked?: boolean; mirrors: ContainersMirror[] } = { mirrors: [] };
  const allowed = 'location, prefix, insecure, blocked, mirror, mirror-by-digest-only and pull-from-mirror';
  for (const [key, value] of Object.entries(entry)) {
    switch (key) {
      case 'location':
      case 'prefix':
        if (typeof value !== 'string' || (value !== '' && !HOST_PATH.test(value))) {
          throw confError(
            path,
            `${where}: ${key} ${showValue(value)} is not host[:port][/path]`,
            'write e.g. location = "registry.example.com/team"',
          );
        }
        if (key === 'location') location = value;
        else prefix = value;
        break;
      case 'insecure':
      case 'blocked':
        if (typeof value !== 'boolean') {
          throw confError(
            path,
            `${where}: ${key} must be true or false, not ${showValue(value)}`,
            `write ${key} = true`,
          );
        }
        out[key] = value;
        break;
      case 'mirror':
        if (!Array.isArray(value))
          throw confError(
            path,
            `${where}: mirror must be [[registry.mirror]] tables`,
            'write [[registry.mirror]] with location = "host"',
          );
        out.mirrors = value.map((m, i) => parseMirror(m, `${where} mirror #${i + 1}`, path));
        break;
      default:
        if (UNUSED_REGISTRY_KEYS.has(key)) break;
        throw confError(path, `${where}: unknown key '${key}'`, `the keys of a [[registry]] table are ${allowed}`);
    }
  }
  if (!location && !prefix) {
    throw confError(path, `${where}: has neither location nor prefix`, 'add location = "host[:port][/path]"');
  }
  const normalizedPrefix = normalizeLocation((prefix || location) as string);
  return Object.freeze({
    prefix: normalizedPrefix,
    location: location ? normalizeLocation(location) : normalizedPrefix,
    ...out,
    file: path,
  });
}

function parseMirror(entry: unknown, where: string, path: string): ContainersMirror {
  if (!isTable(entry)) throw confError(path, `${where} must be a table`, 'write [[registry.mirror]] tables');
  let location: string | undefined;
  let insecure: boolean | undefined;
  for (const [key, value] of Object.entries(entry)) {
    if (key === 'location') {
      if (typeof value !== 'string' || !HOST_PATH.test(value) || value.startsWith('*.')) {
        throw confError(
          path,
          `${where}: location ${showValue(value)} is not host[:port][/path]`,
          'write location = "mirror.example.com"',
        );
      }
      location = normalizeLocation(value);
    } else if (key === 'insecure') {
      if (typeof value !== 'boolean')
        throw confError(
          path,
          `${where}: insecure must be true or false, not ${showValue(value)}`,
          'write insecure = true',
        );
      insecure = value;
    } else if (key !== 'pull-from-mirror') {
      throw confError(
        path,
        `${where}: unknown key '${key}'`,
        'the keys of a [[registry.mirror]] table are location, insecure and pull-from-mirror',
      );
    }
  }
  if (location === undefined) throw confError(path, `${where}: has no location`, 'add location = "mirror.example.com"');
  return insecure === undefined ? { location } : { location, insecure };
}

/** Whether `prefix` (host, host/path or *.domain) covers `registry/repository` (repository '' = the host itself). */
export function prefixCovers(prefix: string, registry: string, repository: string): boolean {
  const host = hostOf(prefix);
  const path = prefix.slice(host.length + 1);
  const reg = normalizeRegistry(registry).toLowerCase();
  const h = host.toLowerCase();
  const hostMatches = h.startsWith('*.') ? reg.endsWith(h.slice(1)) : reg === h;
  if (!hostMatches) return false;
  if (path === '') return true;
  return repository === path || repository.startsWith(`${path}/`);
}
