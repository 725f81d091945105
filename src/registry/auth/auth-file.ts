/**
 * Reading the docker config.json format, which containers' auth.json and Kubernetes'
 * .dockerconfigjson share: `auths` entries (base64 `auth`, `username`/`password`,
 * `identitytoken`, `registrytoken`), `credHelpers` per host and the default `credsStore`.
 * A malformed file is one clear error naming the file, never a stack trace or a silent skip.
 */
import { readFile } from 'node:fs/promises';
import { GantryError, type IoOptions } from '../../errors.js';
import type { Credential } from './credential.js';
import { splitKey } from './hosts.js';

export interface AuthEntry {
  readonly auth?: string;
  readonly username?: string;
  readonly password?: string;
  readonly identitytoken?: string;
  readonly registrytoken?: string;
}

export interface AuthFile {
  readonly path: string;
  /** Keys as written in the file, in file order. */
  readonly auths: ReadonlyMap<string, AuthEntry>;
  readonly credHelpers: ReadonlyMap<string, string>;
  readonly credsStore?: string;
  /** The whole parsed document, so a writer can keep every key it does not own. */
  readonly document: Readonly<Record<string, unknown>>;
}

export function badFile(path: string, detail: string, cause?: unknown): GantryError {
  return new GantryError('BAD_CREDENTIALS_FILE', `${path}: ${detail}`, {
    phase: 'config',
    suggestion: `fix or remove ${path} (it must be docker config.json JSON: {"auths": {"HOST": {"auth": "base64(user:password)"}}})`,
    cause,
  });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads and checks an auth file; undefined when it does not exist. */
export async function readAuthFile(path: string, options: IoOptions = {}): Promise<AuthFile | undefined> {
  let text: string;
  try {
    text = await readFile(path, { encoding: 'utf8', signal: options.signal });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    if (code === 'ABORT_ERR') throw err;
    throw badFile(path, `cannot read: ${(err as Error).message}`, err);
  }
  return parseAuthFile(path, text);
}

export function parseAuthFile(path: string, text: string): AuthFile {
  let document: unknown = {};
  // docker treats an empty config.json as an empty config; so do we.
  if (text.trim() !== '') {
    try {
      document = JSON.parse(text);
    } catch (err) {
      throw badFile(path, `not valid JSON (${(err as Error).message})`, err);
    }
  }
  if (!isObject(document)) throw badFile(path, 'not a JSON object');
  const auths = new Map<string, AuthEntry>();
  if (document.auths !== undefined) {
    if (!isObject(document.auths)) throw badFile(path, '"auths" is not an object');
    for (const [key, value] of Object.entries(document.auths)) {
      if (!isObject(value)) throw badFile(path, `auths[${JSON.stringify(key)}] is not an object`);
      const entry: Record<string, string> = {};
      for (const field of ['auth', 'username', 'password', 'identitytoken', 'registrytoken'] as const) {
        const v = value[field];
        if (v === undefined || v === null || v === '') continue;
        if (typeof v !== 'string') throw badFile(path, `auths[${JSON.stringify(key)}].${field} is not a string`);
        entry[field] = v;
      }
      auths.set(key, entry);
    }
  }
  const credHelpers = new Map<string, string>();
  if (document.credHelpers !== undefined) {
    if (!isObject(document.credHelpers)) throw badFile(path, '"credHelpers" is not an object');
    for (const [key, value] of Object.entries(document.credHelpers)) {
      if (typeof value !== 'string' || value === '') {
        throw badFile(path, `credHelpers[${JSON.stringify(key)}] is not a helper name`);
      }
      credHelpers.set(key, value);
    }
  }
  let credsStore: string | undefined;
  if (document.credsStore !== undefined && document.credsStore !== '') {
    if (typeof document.credsStore !== 'string') throw badFile(path, '"credsStore" is not a string');
    credsStore = document.credsStore;
  }
  return credsStore === undefined
    ? { path, auths, credHelpers, document }
    : { path, auths, credHelpers, credsStore, document };
}

/**
 * The entry for a registry (and optionally a repository). A key naming a namespace
 * ('quay.io/team') matches repositories under it and wins over a shorter one, as in containers'
 * auth.json; among keys for the same host, the one spelled exactly like `registry` wins, then
 * file order.
 */
export function findEntry(
  auths: ReadonlyMap<string, AuthEntry>,
  registry: string,
  repository?: string,
): { key: string; entry: AuthEntry } | undefined {
  const want = splitKey(registry).host;
  let best: { key: string; entry: AuthEntry; score: number } | undefined;
  for (const [key, entry] of auths) {
    const { host, path } = splitKey(key);
    if (host !== want) continue;
    let score: number;
    if (path === '') {
      score = key === registry ? 1 : 0;
    } else {
      if (repository === undefined || !(repository === path || repository.startsWith(`${path}/`))) continue;
      score = 2 + path.length;
    }
    if (best === undefined || score > best.score) best = { key, entry, score };
  }
  return best && { key: best.key, entry: best.entry };
}

/** The credential an entry holds, or undefined when it holds none (docker writes `{}` for hosts kept in a credsStore). */
export function entryCredential(path: string, key: string, entry: AuthEntry, source: string): Credential | undefined {
  let username = entry.username;
  let password = entry.password;
  if (entry.auth !== undefined) {
    const decoded = decodeAuth(entry.auth);
    if (decoded === undefined) {
      throw badFile(path, `auths[${JSON.stringify(key)}].auth is not base64 of "username:password"`);
    }
    username = decoded.username;
    password = decoded.password;
  }
  const cred: { -readonly [K in keyof Credential]: Credential[K] } = { source };
  if (username) cred.username = username;
  if (password) cred.password = password;
  if (entry.identitytoken) cred.identityToken = entry.identitytoken;
  if (entry.registrytoken) cred.registryToken = entry.registrytoken;
  if (!cred.password && !cred.identityToken && !cred.registryToken) return undefined;
  return cred;
}

function decodeAuth(auth: string): { username: string; password: string } | undefined {
  const compact = auth.trim();
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact)) return undefined;
  const text = Buffer.from(compact, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon <= 0) return undefined;
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

export function encodeAuth(username: string, password: string): string {
  return Buffer.from(`${username}:${password}`, 'utf8').toString('base64');
}

/** The helper configured for a host in `credHelpers` (keys compared by host), if any. */
export function helperFor(file: AuthFile, registry: string): string | undefined {
  const want = splitKey(registry).host;
  for (const [key, helper] of file.credHelpers) if (splitKey(key).host === want) return helper;
  return undefined;
}
