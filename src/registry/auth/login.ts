/**
 * Storing and removing logins the way `docker login`/`docker logout` do, so docker, podman and
 * gantry share one login: into the credential helper when config.json names one for the host
 * (credHelpers) or a default (credsStore), else into config.json `auths[host].auth`. Every other
 * key of config.json is kept as it was.
 */
import { homedir } from 'node:os';
import { GantryError, type IoOptions } from '../../errors.js';
import { encodeAuth, helperFor, readAuthFile } from './auth-file.js';
import type { Credential } from './credential.js';
import { helperErase, helperStore, IDENTITY_TOKEN_USERNAME } from './helper.js';
import { normalizeRegistry, serverUrlFor } from './hosts.js';
import { writeSecretFileAtomic } from './secret-file.js';
import { dockerConfigPath } from './sources/docker-config.js';

export interface CredentialStoreOptions extends IoOptions {
  /** Default process.env (DOCKER_CONFIG, PATH for helpers). */
  readonly env?: NodeJS.ProcessEnv;
  /** Default $HOME from `env`, else the OS's home directory. */
  readonly home?: string;
}

/** Where a login went, for the CLI's message. */
export type StoredIn =
  | { readonly kind: 'helper'; readonly helper: string; readonly configPath: string }
  | { readonly kind: 'file'; readonly path: string };

function context(options: CredentialStoreOptions): { env: NodeJS.ProcessEnv; path: string } {
  const env = options.env ?? process.env;
  const home = options.home ?? (env.HOME || homedir());
  return { env, path: dockerConfigPath({ env, home }) };
}

function storeError(message: string, suggestion: string): GantryError {
  return new GantryError('CANNOT_STORE_CREDENTIAL', message, { phase: 'config', suggestion });
}

/** Stores a credential for a registry host; returns where it went. */
export async function storeCredential(
  registry: string,
  cred: Credential,
  options: CredentialStoreOptions = {},
): Promise<StoredIn> {
  const { env, path } = context(options);
  const host = normalizeRegistry(registry);
  if (cred.registryToken !== undefined && cred.password === undefined && cred.identityToken === undefined) {
    throw storeError(
      `cannot store a bare registry token for ${host}`,
      'log in with a username and password (or an identity token) instead',
    );
  }
  if (!cred.password && !cred.identityToken) {
    throw storeError(`no password or token to store for ${host}`, 'pass the password on stdin (--password-stdin)');
  }
  const file = await readAuthFile(path, options);
  const helper = file === undefined ? undefined : (helperFor(file, host) ?? file.credsStore);
  if (file !== undefined && helper !== undefined) {
    const secret = cred.identityToken
      ? { username: IDENTITY_TOKEN_USERNAME, secret: cred.identityToken }
      : { username: cred.username ?? '', secret: cred.password ?? '' };
    await helperStore(helper, serverUrlFor(host), secret, { env, signal: options.signal });
    return { kind: 'helper', helper, configPath: path };
  }
  const document: Record<string, unknown> = { ...(file?.document ?? {}) };
  const auths: Record<string, unknown> = { ...((document.auths as Record<string, unknown> | undefined) ?? {}) };
  const key = keyFor(auths, host);
  // Other spellings of the same host would shadow or contradict the new login.
  for (const other of Object.keys(auths)) if (other !== key && normalizeRegistry(other) === host) delete auths[other];
  const previous = auths[key];
  const entry: Record<string, unknown> =
    typeof previous === 'object' && previous !== null && !Array.isArray(previous) ? { ...previous } : {};
  for (const field of ['auth', 'username', 'password', 'identitytoken', 'registrytoken']) delete entry[field];
  entry.auth = encodeAuth(cred.username ?? (cred.identityToken ? IDENTITY_TOKEN_USERNAME : ''), cred.password ?? '');
  if (cred.identityToken) entry.identitytoken = cred.identityToken;
  auths[key] = entry;
  document.auths = auths;
  await writeSecretFileAtomic(path, `${JSON.stringify(document, null, '\t')}\n`, options);
  return { kind: 'file', path };
}

/** The key to write: an existing spelling of the host if there is one (docker's own for Docker Hub), else the host. */
function keyFor(auths: Record<string, unknown>, host: string): string {
  const preferred = serverUrlFor(host);
  if (Object.hasOwn(auths, preferred)) return preferred;
  return Object.keys(auths).find((k) => normalizeRegistry(k) === host) ?? preferred;
}

/** Removes the stored login for a registry (helper `erase` and config.json entries); false when there was none. */
export async function removeCredential(registry: string, options: CredentialStoreOptions = {}): Promise<boolean> {
  const { env, path } = context(options);
  const host = normalizeRegistry(registry);
  const file = await readAuthFile(path, options);
  if (file === undefined) return false;
  let removed = false;
  const helper = helperFor(file, host) ?? file.credsStore;
  if (helper !== undefined) removed = await helperErase(helper, serverUrlFor(host), { env, signal: options.signal });
  const auths = file.document.auths as Record<string, unknown> | undefined;
  const keys = Object.keys(auths ?? {}).filter((k) => normalizeRegistry(k) === host);
  if (keys.length > 0) {
    const nextAuths = { ...auths };
    for (const k of keys) delete nextAuths[k];
    await writeSecretFileAtomic(
      path,
      `${JSON.stringify({ ...file.document, auths: nextAuths }, null, '\t')}\n`,
      options,
    );
    removed = true;
  }
  return removed;
}

export interface LoginOptions extends CredentialStoreOptions {
  /** Checks the credential against the registry (the CLI pings with it); throws when it is refused. */
  verify(cred: Credential): Promise<void>;
}

/** `gantry login`: verify first, store only on success, so a typo never replaces a working login. */
export async function login(registry: string, cred: Credential, options: LoginOptions): Promise<StoredIn> {
  if (!cred.password && !cred.identityToken) {
    throw storeError(
      `no password given for ${normalizeRegistry(registry)}`,
      'pass it on stdin: echo "$TOKEN" | gantry login HOST -u USER --password-stdin',
    );
  }
  await options.verify(cred);
  return storeCredential(registry, cred, options);
}
