/**
 * Test harness: the real CNCF distribution registry (Debian's `docker-registry`) on a free
 * loopback port, with storage, config, certificates and htpasswd in a temp dir. Modes: plain HTTP,
 * TLS with a CA generated at test time, TLS with basic auth, and token auth (docker's token spec)
 * against the issuer of token-server.ts, over TLS or plain HTTP.
 * Registries are killed and their temp dirs removed by `stop()`, and at process exit.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { GantryError, throwIfAborted } from '../../src/errors.js';
import { freePort, run } from './run.js';
import { startTokenServer, type TokenAlgorithm, type TokenServer, type TokenUser } from './token-server.js';

export { freePort } from './run.js';

export const REGISTRY_BINARY = '/usr/bin/docker-registry';

export type RegistryMode = 'http' | 'tls' | 'tls-basic' | 'token';

export interface StartRegistryOptions {
  readonly mode: RegistryMode;
  /** Basic-auth user (tls-basic); default 'gantry'. */
  readonly username?: string;
  /** Basic-auth password (tls-basic); default a random one. */
  readonly password?: string;
  /** Listen on this port instead of a free one (no retry on a port clash). */
  readonly port?: number;
  /** TLS modes: more DNS names in the server certificate (e.g. a name only a test proxy resolves). */
  readonly dnsNames?: readonly string[];
  /** token mode: serve the registry (and the token server) over TLS; default true. */
  readonly tls?: boolean;
  /**
   * token mode: the token server's user table. Default: user `gantry` (or `username`) with
   * `password` (or a random one) allowed everything, catalog included; nothing for anonymous.
   */
  readonly users?: readonly TokenUser[];
  /** token mode: where and how the token server runs. */
  readonly token?: {
    /** Loopback address of the token server (e.g. '127.0.0.2': a realm on another host). */
    readonly host?: string;
    readonly algorithm?: TokenAlgorithm;
    /** Token lifetime in seconds. */
    readonly expiresIn?: number;
  };
  readonly signal?: AbortSignal;
  /**
   * Start with a copy of this storage directory (a registry's rootdirectory, kept as a fixture):
   * blob data hard-linked (the registry never rewrites a blob's data), everything else copied
   * (link and tag files are rewritten in place, which must not reach the fixture).
   */
  readonly storageFrom?: string;
}

export interface TestRegistry {
  /** `127.0.0.1:PORT`, as a reference names it. */
  readonly host: string;
  /** `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT`. */
  readonly url: string;
  readonly mode: RegistryMode;
  /** PEM of the CA that signed the server certificate (TLS modes). */
  readonly caFile?: string;
  /** A docker certs.d style directory for this host holding ca.crt (skopeo --*-cert-dir). */
  readonly certsDir?: string;
  /** tls-basic: the user; token: the first user of the table with a password. */
  readonly username?: string;
  readonly password?: string;
  /** token mode: the issuer the registry trusts (its realm, service, recorded requests). */
  readonly tokenServer?: TokenServer;
  readonly storageDir: string;
  readonly configFile: string;
  /** The last lines the registry logged. */
  logTail(): string;
  stop(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Config

export type RegistryAuthConfig =
  | { readonly kind: 'none' }
  | { readonly kind: 'htpasswd'; readonly realm: string; readonly path: string }
  | {
      readonly kind: 'token';
      readonly realm: string;
      readonly service: string;
      readonly issuer: string;
      /** PEM bundle of the certificates that sign tokens. */
      readonly rootCertBundle: string;
    };

export interface RegistryConfigSpec {
  readonly addr: string;
  readonly storageDir: string;
  readonly secret: string;
  readonly tls?: { readonly certificate: string; readonly key: string };
  readonly auth: RegistryAuthConfig;
  readonly logLevel?: 'error' | 'warn' | 'info' | 'debug';
}

type YamlValue = string | number | boolean | { readonly [key: string]: YamlValue };

function toYaml(value: { readonly [key: string]: YamlValue }, indent = ''): string {
  let out = '';
  for (const [key, v] of Object.entries(value)) {
    if (typeof v === 'object') out += `${indent}${key}:\n${toYaml(v, `${indent}  `)}`;
    // A JSON string is a valid YAML double-quoted scalar, so paths with odd characters survive.
    else out += `${indent}${key}: ${typeof v === 'string' ? JSON.stringify(v) : String(v)}\n`;
  }
  return out;
}

function authSection(auth: RegistryAuthConfig): { readonly [key: string]: YamlValue } | undefined {
  switch (auth.kind) {
    case 'none':
      return undefined;
    case 'htpasswd':
      return { htpasswd: { realm: auth.realm, path: auth.path } };
    case 'token':
      return {
        token: {
          realm: auth.realm,
          service: auth.service,
          issuer: auth.issuer,
          rootcertbundle: auth.rootCertBundle,
        },
      };
  }
}

/**
 * The registry's YAML config. Redirects are off (blobs are served by the registry itself, never
 * by a storage backend URL), there is no proxy (pull-through cache) section, and deletes are on.
 */
export function registryConfig(spec: RegistryConfigSpec): string {
  const http: Record<string, YamlValue> = { addr: spec.addr, secret: spec.secret, relativeurls: false };
  if (spec.tls) http.tls = { certificate: spec.tls.certificate, key: spec.tls.key };
  const config: Record<string, YamlValue> = {
    version: '0.1',
    log: { level: spec.logLevel ?? 'info', formatter: 'text', accesslog: { disabled: false } },
    storage: {
      filesystem: { rootdirectory: spec.storageDir },
      delete: { enabled: true },
      redirect: { disable: true },
      maintenance: { uploadpurging: { enabled: false }, readonly: { enabled: false } },
    },
    http,
  };
  const auth = authSection(spec.auth);
  if (auth) config.auth = auth;
  return toYaml(config);
}

// ---------------------------------------------------------------------------------------------
// TLS material

export interface TlsMaterial {
  readonly caFile: string;
  readonly caKey: string;
  readonly certFile: string;
  readonly keyFile: string;
}

/** A throwaway CA and a server certificate for 127.0.0.1 and localhost, signed by it. */
export async function generateTls(
  dir: string,
  options: { signal?: AbortSignal; dnsNames?: readonly string[] } = {},
): Promise<TlsMaterial> {
  await mkdir(dir, { recursive: true });
  const p = (name: string) => join(dir, name);
  const o = { signal: options.signal };
  // P-256 keys: Go's TLS stack accepts them and they are much faster to make than RSA.
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await run(
    'openssl',
    [
      'req',
      '-x509',
      ...key,
      '-keyout',
      p('ca.key'),
      '-out',
      p('ca.crt'),
      '-days',
      '7',
      '-subj',
      '/CN=gantry test CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    o,
  );
  await run(
    'openssl',
    ['req', '-new', ...key, '-keyout', p('server.key'), '-out', p('server.csr'), '-subj', '/CN=127.0.0.1'],
    o,
  );
  await writeFile(
    p('server.ext'),
    [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
      // 127.0.0.2 too: a token server there plays a realm on another host under the same CA.
      `subjectAltName=IP:127.0.0.1,IP:127.0.0.2,DNS:localhost${(options.dnsNames ?? []).map((n) => `,DNS:${n}`).join('')}`,
      '',
    ].join('\n'),
  );
  await run(
    'openssl',
    [
      'x509',
      '-req',
      '-in',
      p('server.csr'),
      '-CA',
      p('ca.crt'),
      '-CAkey',
      p('ca.key'),
      '-CAcreateserial',
      '-out',
      p('server.crt'),
      '-days',
      '7',
      '-extfile',
      p('server.ext'),
    ],
    o,
  );
  return { caFile: p('ca.crt'), caKey: p('ca.key'), certFile: p('server.crt'), keyFile: p('server.key') };
}

// ---------------------------------------------------------------------------------------------
// Process lifetime

// What the exit hook must clean up: running registries, and temp dirs from the moment they exist.
const liveChildren = new Set<ChildProcess>();
const liveDirs = new Set<string>();
let exitHooked = false;

function killAllNow(): void {
  for (const child of liveChildren) child.kill('SIGKILL');
  liveChildren.clear();
  for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true });
  liveDirs.clear();
}

async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  liveDirs.delete(dir);
}

function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  process.on('exit', killAllNow);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      killAllNow();
      // Our handler replaced the default action; re-raise so the process still dies of the signal.
      process.kill(process.pid, sig);
    });
  }
}

const LOG_LIMIT = 16 * 1024;

class LogTail {
  #text = '';
  push(chunk: Buffer): void {
    this.#text += chunk.toString('utf8');
    if (this.#text.length > LOG_LIMIT * 2) this.#text = this.#text.slice(this.#text.length - LOG_LIMIT);
  }
  tail(lines = 20): string {
    return this.#text.trimEnd().split('\n').slice(-lines).join('\n');
  }
}

// ---------------------------------------------------------------------------------------------
// Requests

export interface RegistryResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

export interface RegistryRequestOptions {
  readonly method?: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** Send the registry's basic-auth credentials (tls-basic), or these ones. */
  readonly auth?: boolean | { readonly username: string; readonly password: string };
  /** Send this bearer token (token mode; see fetchToken in token-server.ts). */
  readonly token?: string;
  /** Give up when no response arrives within this time; default 10 s. */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

/** One small HTTP(S) request to a test registry, trusting its CA. For harness checks, not the client under test. */
export async function registryRequest(
  reg: Pick<TestRegistry, 'url' | 'caFile' | 'username' | 'password'>,
  path: string,
  options: RegistryRequestOptions = {},
): Promise<RegistryResponse> {
  const url = new URL(path, reg.url);
  const headers: Record<string, string> = { ...options.headers };
  const creds =
    options.auth === true && reg.username !== undefined
      ? { username: reg.username, password: reg.password ?? '' }
      : typeof options.auth === 'object'
        ? options.auth
        : undefined;
  if (creds) headers.authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  const ca = reg.caFile ? await readFile(reg.caFile) : undefined;
  return new Promise((resolve, reject) => {
    const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, {
      method: options.method ?? 'GET',
      headers,
      ca,
      signal: options.signal,
      agent: false,
      timeout: options.timeoutMs ?? 10_000,
    });
    req.on('timeout', () => req.destroy(new Error(`${req.method} ${url.href}: no response in time`)));
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.end();
  });
}

// ---------------------------------------------------------------------------------------------
// Start

const READY_ATTEMPTS = 200;
const READY_INTERVAL_MS = 50;
const PORT_ATTEMPTS = 5;

/** The registry's environment: REGISTRY_* variables would override the config file, so drop them. */
function registryEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('REGISTRY_')) env[k] = v;
  return env;
}

interface Prepared {
  readonly dir: string;
  readonly storageDir: string;
  readonly tls?: TlsMaterial;
  readonly htpasswd?: string;
  readonly username?: string;
  readonly password?: string;
  readonly tokenServer?: TokenServer;
}

function usesTls(options: StartRegistryOptions): boolean {
  return options.mode === 'tls' || options.mode === 'tls-basic' || (options.mode === 'token' && options.tls !== false);
}

async function prepare(options: StartRegistryOptions): Promise<Prepared> {
  hookExit();
  const dir = await mkdtemp(join(tmpdir(), `gantry-registry-${options.mode}-`));
  liveDirs.add(dir);
  try {
    const storageDir = join(dir, 'storage');
    if (options.storageFrom) await copyStorage(options.storageFrom, storageDir);
    else await mkdir(storageDir);
    const tls = usesTls(options) ? await generateTls(join(dir, 'tls'), options) : undefined;
    if (options.mode === 'token') return { dir, storageDir, tls, ...(await prepareToken(options, dir, tls)) };
    if (options.mode !== 'tls-basic') return { dir, storageDir, tls };
    const username = options.username ?? 'gantry';
    const password = options.password ?? randomBytes(12).toString('hex');
    const htpasswd = join(dir, 'htpasswd');
    const res = await run('htpasswd', ['-Bbn', username, password], options);
    await writeFile(htpasswd, res.stdout);
    return { dir, storageDir, tls, htpasswd, username, password };
  } catch (err) {
    await removeDir(dir);
    throw err;
  }
}

/** A registry storage directory copied: files under a `blobs` directory hard-linked, others copied. */
async function copyStorage(from: string, to: string): Promise<void> {
  await mkdir(to);
  for (const e of await readdir(from, { withFileTypes: true })) {
    const src = join(from, e.name);
    const dst = join(to, e.name);
    if (e.isDirectory() && e.name === 'blobs') await run('cp', ['-al', src, dst]);
    else if (e.isDirectory()) await copyStorage(src, dst);
    else await copyFile(src, dst);
  }
}

async function prepareToken(
  options: StartRegistryOptions,
  dir: string,
  tls: TlsMaterial | undefined,
): Promise<Pick<Prepared, 'tokenServer' | 'username' | 'password'>> {
  const users = options.users ?? [
    {
      username: options.username ?? 'gantry',
      password: options.password ?? randomBytes(12).toString('hex'),
      access: { '*': ['*'], 'registry:catalog': ['*'] },
    },
  ];
  const tokenDir = join(dir, 'token');
  await mkdir(tokenDir);
  const tokenServer = await startTokenServer({
    users,
    host: options.token?.host,
    algorithm: options.token?.algorithm,
    expiresIn: options.token?.expiresIn,
    tls,
    dir: tokenDir,
    signal: options.signal,
  });
  const first = users.find((u) => u.username !== '*' && u.password !== undefined);
  return { tokenServer, username: first?.username, password: first?.password };
}

function startFailure(message: string, log: LogTail, cause?: unknown): GantryError {
  const tail = log.tail(12).replace(/\s*\n\s*/g, ' | ');
  return new GantryError('REGISTRY_START_FAILED', `${message}; registry log: ${tail || '(empty)'}`, {
    suggestion: `check ${REGISTRY_BINARY} (run \`node scripts/setup-test-deps.mjs\`) and the log above`,
    cause,
  });
}

/** Starts a registry and resolves once its /v2/ endpoint answers. */
export async function startRegistry(options: StartRegistryOptions): Promise<TestRegistry> {
  const prepared = await prepare(options);
  let lastError: unknown;
  try {
    for (let attempt = 0; attempt < (options.port ? 1 : PORT_ATTEMPTS); attempt++) {
      throwIfAborted(options.signal);
      const port = options.port ?? (await freePort());
      try {
        return await launch(options, prepared, port);
      } catch (err) {
        lastError = err;
        // Another process may take the free port between freePort() and the registry's listen.
        if (!(err instanceof Error && /address already in use/.test(err.message))) break;
      }
    }
  } catch (err) {
    lastError = err;
  }
  await prepared.tokenServer?.stop();
  await removeDir(prepared.dir);
  throw lastError;
}

async function launch(options: StartRegistryOptions, prepared: Prepared, port: number): Promise<TestRegistry> {
  const { dir, tls } = prepared;
  const host = `127.0.0.1:${port}`;
  const configFile = join(dir, `config-${port}.yml`);
  const token = prepared.tokenServer;
  const auth: RegistryAuthConfig = token
    ? {
        kind: 'token',
        realm: token.realm,
        service: token.service,
        issuer: token.issuer,
        rootCertBundle: token.rootCertBundle,
      }
    : prepared.htpasswd
      ? { kind: 'htpasswd', realm: 'gantry-test', path: prepared.htpasswd }
      : { kind: 'none' };
  await writeFile(
    configFile,
    registryConfig({
      addr: host,
      storageDir: prepared.storageDir,
      secret: randomBytes(16).toString('hex'),
      tls: tls ? { certificate: tls.certFile, key: tls.keyFile } : undefined,
      auth,
    }),
  );
  let certsDir: string | undefined;
  if (tls) {
    certsDir = join(dir, 'certs.d', host);
    await mkdir(certsDir, { recursive: true });
    await writeFile(join(certsDir, 'ca.crt'), await readFile(tls.caFile));
  }

  const log = new LogTail();
  const child = spawn(REGISTRY_BINARY, ['serve', configFile], {
    cwd: dir,
    env: registryEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  liveChildren.add(child);
  child.stdout?.on('data', (c: Buffer) => log.push(c));
  child.stderr?.on('data', (c: Buffer) => log.push(c));
  let exited: string | undefined;
  let spawnError: Error | undefined;
  const exitPromise = new Promise<void>((resolve) => {
    child.on('error', (e) => {
      spawnError = e;
      exited ??= `failed to start: ${e.message}`;
      resolve();
    });
    child.on('exit', (code, signal) => {
      exited ??= signal ? `killed by ${signal}` : `exited with status ${code}`;
      resolve();
    });
  });

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (exited === undefined) {
      child.kill('SIGTERM');
      const dead = await Promise.race([exitPromise.then(() => true), sleep(5000, false)]);
      if (!dead) {
        child.kill('SIGKILL');
        await exitPromise;
      }
    }
    liveChildren.delete(child);
    await token?.stop();
    await removeDir(dir);
  };

  const scheme = tls ? 'https' : 'http';
  const reg: TestRegistry = {
    host,
    url: `${scheme}://${host}`,
    mode: options.mode,
    caFile: tls?.caFile,
    certsDir,
    username: prepared.username,
    password: prepared.password,
    tokenServer: token,
    storageDir: prepared.storageDir,
    configFile,
    logTail: () => log.tail(),
    stop,
  };

  const ok = options.mode === 'tls-basic' || options.mode === 'token' ? [401] : [200];
  try {
    for (let i = 0; ; i++) {
      throwIfAborted(options.signal);
      if (exited !== undefined) throw startFailure(`registry on ${host} ${exited}`, log, spawnError);
      let status: number | undefined;
      let lastProblem = '';
      try {
        // Race the exit: whatever holds the port when the registry could not bind may never answer.
        const probe = new AbortController();
        const signal = options.signal ? AbortSignal.any([options.signal, probe.signal]) : probe.signal;
        const res = await Promise.race([
          registryRequest(reg, '/v2/', { signal, timeoutMs: 2000 }),
          exitPromise.then(() => undefined),
        ]).finally(() => probe.abort());
        status = res?.status;
      } catch (err) {
        lastProblem = err instanceof Error ? err.message : String(err);
      }
      if (status !== undefined && ok.includes(status)) break;
      if (status !== undefined) lastProblem = `GET /v2/ answered ${status}, expected ${ok.join(' or ')}`;
      if (i + 1 >= READY_ATTEMPTS) throw startFailure(`registry on ${host} not ready: ${lastProblem}`, log);
      await sleep(READY_INTERVAL_MS, undefined, { signal: options.signal });
    }
  } catch (err) {
    // stop() would remove the whole temp dir, which a retry on another port still needs.
    stopped = true;
    child.kill('SIGKILL');
    await exitPromise;
    liveChildren.delete(child);
    throw err;
  }
  // The registry must not keep a test process alive: a test that forgets stop() still exits,
  // and the exit hook kills the registry.
  child.unref();
  for (const s of [child.stdout, child.stderr]) (s as { unref?: () => void } | null)?.unref?.();
  return reg;
}
