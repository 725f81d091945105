/**
 * Image config edits shared by the builders: the metadata flags of `gantry build` (and later the
 * Dockerfile metadata instructions) applied the way docker applies them.
 */
import { posix } from 'node:path';
import { GantryError } from '../errors.js';
import type { ContainerConfig, ImageConfig } from '../oci/types.js';

export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface ConfigOptions {
  readonly workdir?: string;
  readonly entrypoint?: readonly string[];
  readonly cmd?: readonly string[];
  /** `KEY=VALUE` pairs; a key that is already set is replaced in place. */
  readonly env?: readonly string[];
  readonly labels?: Readonly<Record<string, string>>;
  readonly user?: string;
  /** `PORT[/PROTO]`, proto defaults to tcp. */
  readonly expose?: readonly string[];
}

/** `8080` -> `8080/tcp`; refuses anything else. */
export function normalizePort(value: string): string {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?(?:\/(tcp|udp|sctp))?$/i.exec(value.trim());
  if (!m || Number(m[1]) > 65535 || (m[2] !== undefined && Number(m[2]) > 65535)) {
    throw new GantryError('INVALID_PORT', `invalid port ${JSON.stringify(value)}`, {
      phase: 'usage',
      suggestion: 'give PORT or PORT/PROTO, e.g. 8080 or 53/udp',
    });
  }
  return `${m[2] === undefined ? m[1] : `${m[1]}-${m[2]}`}/${(m[3] ?? 'tcp').toLowerCase()}`;
}

export function parseEnvPair(pair: string): [string, string] {
  const eq = pair.indexOf('=');
  if (eq <= 0) {
    throw new GantryError('INVALID_ENV', `invalid environment variable ${JSON.stringify(pair)}`, {
      phase: 'usage',
      suggestion: 'give KEY=VALUE',
    });
  }
  return [pair.slice(0, eq), pair.slice(eq + 1)];
}

/** Sets `KEY=VALUE` in an env list, replacing the same key where it stands. */
export function setEnv(env: readonly string[], key: string, value: string): string[] {
  const out = [...env];
  const at = out.findIndex((e) => e.slice(0, e.indexOf('=') === -1 ? e.length : e.indexOf('=')) === key);
  if (at === -1) out.push(`${key}=${value}`);
  else out[at] = `${key}=${value}`;
  return out;
}

export function absoluteWorkdir(dir: string, current = '/'): string {
  return posix.resolve(current || '/', dir);
}

/** Applies the options to `cfg` (pure). Setting an entrypoint clears an inherited Cmd, as docker does. */
export function applyConfig(cfg: ImageConfig, options: ConfigOptions): ImageConfig {
  const c: ContainerConfig = cfg.config ?? {};
  let env = [...(c.Env ?? [])];
  if (!env.some((e) => e.startsWith('PATH='))) env.unshift(DEFAULT_PATH);
  for (const pair of options.env ?? []) {
    const [k, v] = parseEnvPair(pair);
    env = setEnv(env, k, v);
  }
  const next: { -readonly [K in keyof ContainerConfig]: ContainerConfig[K] } = { ...c, Env: env };
  if (options.workdir !== undefined) next.WorkingDir = absoluteWorkdir(options.workdir, c.WorkingDir);
  if (options.user !== undefined) next.User = options.user;
  if (options.entrypoint !== undefined) {
    next.Entrypoint = [...options.entrypoint];
    if (options.cmd === undefined) next.Cmd = null;
  }
  if (options.cmd !== undefined) next.Cmd = [...options.cmd];
  if (options.labels && Object.keys(options.labels).length > 0)
    next.Labels = { ...(c.Labels ?? {}), ...options.labels };
  if (options.expose && options.expose.length > 0) {
    const ports: Record<string, Record<string, never>> = { ...(c.ExposedPorts ?? {}) };
    for (const p of options.expose) ports[normalizePort(p)] = {};
    next.ExposedPorts = ports;
  }
  if (next.Cmd === null) delete next.Cmd;
  return { ...cfg, config: next };
}
