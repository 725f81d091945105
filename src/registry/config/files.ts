/**
 * The configuration files and directories gantry reads for registries in this environment, in
 * the order they are consulted, for `gantry info`: registries.toml, docker's certs.d directories,
 * and the credential files (docker config.json, containers auth.json).
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { containersAuthPaths } from '../auth/sources/containers-auth.js';
import { dockerConfigPath } from '../auth/sources/docker-config.js';
import { defaultCertsDirs } from './certs.js';
import { registriesConfigPath } from './registries.js';

export interface ConfigFile {
  readonly path: string;
  /** What gantry reads it for. */
  readonly kind: 'registries.toml' | 'certs.d' | 'docker config.json' | 'containers auth.json';
  readonly exists: boolean;
}

export function registryConfigFiles(options: { env?: NodeJS.ProcessEnv; home?: string } = {}): ConfigFile[] {
  const env = options.env ?? process.env;
  const home = options.home ?? (env.HOME || homedir());
  const out: ConfigFile[] = [];
  const add = (path: string, kind: ConfigFile['kind']) => out.push({ path, kind, exists: existsSync(path) });
  add(registriesConfigPath({ env, home }).path, 'registries.toml');
  for (const dir of defaultCertsDirs(home)) add(dir, 'certs.d');
  add(dockerConfigPath({ env, home }), 'docker config.json');
  for (const path of containersAuthPaths({ env, home })) add(path, 'containers auth.json');
  return out;
}
