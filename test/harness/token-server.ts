/**
 * Test harness: a token issuer for the distribution registry's `auth: token` mode, written to
 * docker's token spec (distribution docs/spec/auth/token.md, jwt.md, oauth.md, scope.md). The
 * registry is real; only the issuer is ours. It serves one realm path on a loopback address:
 * GET with optional Basic credentials (token.md) and POST with grant_type=password|refresh_token
 * (oauth.md). Tokens are JWTs signed with node:crypto (ES256 or RS256) by a leaf certificate whose
 * chain goes in the `x5c` header; the registry trusts the token CA through `rootcertbundle`
 * (distribution 2.8 verifies x5c against that pool, registry/auth/token/token.go). Every request
 * is recorded so tests can see which scopes were asked, by whom, with or without credentials.
 */
import { createPrivateKey, type KeyObject, randomBytes, sign, timingSafeEqual, X509Certificate } from 'node:crypto';
import { rmSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import {
  createServer as createHttpServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer, request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GantryError } from '../../src/errors.js';
import { run } from './run.js';

export type TokenAlgorithm = 'ES256' | 'RS256';

/**
 * Who may do what. Keys are repository name patterns (`*` matches any run of characters, `/`
 * included: `public/*`, `*`) or `TYPE:PATTERN` for other resource types (`registry:catalog`).
 * Values are actions; `*` grants every action asked for.
 */
export type AccessTable = Readonly<Record<string, readonly string[]>>;

/** One row of the user table. The username `*` is everyone, anonymous clients included. */
export interface TokenUser {
  readonly username: string;
  /** Ignored for `*`. */
  readonly password?: string;
  readonly access: AccessTable;
}

/** One entry of a token's `access` claim (jwt.md). */
export interface ResourceAccess {
  readonly type: string;
  readonly class?: string;
  readonly name: string;
  readonly actions: readonly string[];
}

/** A scope as scope.md writes it: `type[(class)]:name:action[,action]`. */
export interface ResourceScope {
  readonly type: string;
  readonly class?: string;
  readonly name: string;
  readonly actions: readonly string[];
}

export interface TokenClaims {
  readonly iss: string;
  readonly sub: string;
  readonly aud: string;
  readonly exp: number;
  readonly nbf: number;
  readonly iat: number;
  readonly jti: string;
  readonly access: readonly ResourceAccess[];
}

export interface TokenHeader {
  readonly typ: string;
  readonly alg: TokenAlgorithm;
  readonly x5c: readonly string[];
}

/** How a request identified its client. */
export type TokenCredentialKind = 'none' | 'basic' | 'password' | 'refresh_token' | 'other';

export interface TokenRequestRecord {
  readonly method: string;
  /** The path without the query. */
  readonly path: string;
  /** The Host header as the client sent it. */
  readonly host: string;
  readonly service?: string;
  /** Every scope asked for, one per entry (repeated `scope` parameters and space-separated lists alike). */
  readonly scopes: readonly string[];
  readonly account?: string;
  readonly grantType?: string;
  readonly clientId?: string;
  readonly credentials: TokenCredentialKind;
  /** The username the client claimed (Basic or form), right or wrong. */
  readonly username?: string;
  readonly status: number;
  /** What the token issued grants ([] when none was issued). */
  readonly granted: readonly ResourceAccess[];
  /** Set when a refresh token was handed out. */
  readonly refreshTokenIssued: boolean;
}

export interface TokenServerOptions {
  readonly users?: readonly TokenUser[];
  /** The registry's `service` (the token's audience); default 'gantry-test-registry'. */
  readonly service?: string;
  /** The token's `iss`; default 'gantry-test-issuer'. */
  readonly issuer?: string;
  /** Loopback address to listen on; default 127.0.0.1 ('127.0.0.2' makes a realm on another host). */
  readonly host?: string;
  /** Default: a free port chosen by the OS. */
  readonly port?: number;
  /** Serve HTTPS with this certificate (it must name `host`). */
  readonly tls?: { readonly certFile: string; readonly keyFile: string; readonly caFile: string };
  readonly algorithm?: TokenAlgorithm;
  /** Token lifetime in seconds; default 300. Negative values mint tokens that are already expired. */
  readonly expiresIn?: number;
  /** Where to keep the signing material; default a temp dir removed by stop() and at exit. */
  readonly dir?: string;
  readonly signal?: AbortSignal;
}

export interface TokenServer {
  /** `http(s)://HOST:PORT` */
  readonly url: string;
  /** `HOST:PORT` */
  readonly host: string;
  /** The realm to put in the registry config: `${url}/token`. */
  readonly realm: string;
  readonly service: string;
  readonly issuer: string;
  readonly algorithm: TokenAlgorithm;
  /** PEM file with the token CA certificate, for the registry's `rootcertbundle`. */
  readonly rootCertBundle: string;
  /** The CA of the HTTPS certificate, when serving HTTPS. */
  readonly caFile?: string;
  /** Requests so far, oldest first (the last 1000). */
  readonly requests: readonly TokenRequestRecord[];
  clearRequests(): void;
  /** Changes the user table or the lifetime of tokens issued from now on. */
  update(changes: { readonly users?: readonly TokenUser[]; readonly expiresIn?: number }): void;
  /** Signs a token directly, bypassing the user table (tests of expired or over-broad tokens). */
  mint(subject: string, access: readonly ResourceAccess[], options?: { readonly expiresIn?: number }): string;
  stop(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Scopes and access

/** Parses `type[(class)]:name:actions`; the name may itself hold colons (scope.md). */
export function parseScope(scope: string): ResourceScope | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first <= 0 || last === first) return undefined;
  const typePart = scope.slice(0, first);
  const name = scope.slice(first + 1, last);
  const actions = scope
    .slice(last + 1)
    .split(',')
    .filter((a) => a !== '');
  const m = /^([a-z0-9]+)(?:\(([a-z0-9]+)\))?$/.exec(typePart);
  if (!m || name === '') return undefined;
  return m[2] === undefined
    ? { type: m[1] ?? typePart, name, actions }
    : { type: m[1] ?? typePart, class: m[2], name, actions };
}

function globMatch(pattern: string, name: string): boolean {
  const re = new RegExp(`^${pattern.split('*').map(escapeRegExp).join('.*')}$`);
  return re.test(name);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The subset of `scope` that `tables` grant: requested actions only, never more (token.md). */
export function grantedAccess(tables: readonly AccessTable[], scope: ResourceScope): ResourceAccess | undefined {
  const allowed = new Set<string>();
  for (const table of tables) {
    for (const [key, actions] of Object.entries(table)) {
      const colon = key.indexOf(':');
      const type = colon < 0 ? 'repository' : key.slice(0, colon);
      const pattern = colon < 0 ? key : key.slice(colon + 1);
      if (type === scope.type && globMatch(pattern, scope.name)) for (const a of actions) allowed.add(a);
    }
  }
  const actions = [...new Set(scope.actions)].filter((a) => allowed.has('*') || allowed.has(a));
  if (actions.length === 0) return undefined;
  return scope.class === undefined
    ? { type: scope.type, name: scope.name, actions }
    : { type: scope.type, class: scope.class, name: scope.name, actions };
}

// ---------------------------------------------------------------------------------------------
// JWT

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

/** Splits a JWT into its header and claims, without verifying anything (for tests). */
export function decodeToken(token: string): {
  header: TokenHeader;
  claims: TokenClaims;
  signingInput: string;
  signature: Buffer;
} {
  const parts = token.split('.');
  if (parts.length !== 3) throw new Error(`not a JWT: ${token.slice(0, 40)}`);
  const [h, c, s] = parts as [string, string, string];
  return {
    header: JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as TokenHeader,
    claims: JSON.parse(Buffer.from(c, 'base64url').toString('utf8')) as TokenClaims,
    signingInput: `${h}.${c}`,
    signature: Buffer.from(s, 'base64url'),
  };
}

interface SigningMaterial {
  readonly key: KeyObject;
  readonly x5c: readonly string[];
  readonly rootCertBundle: string;
}

function signJwt(material: SigningMaterial, alg: TokenAlgorithm, claims: TokenClaims): string {
  const header: TokenHeader = { typ: 'JWT', alg, x5c: material.x5c };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  // JWS wants ECDSA signatures as r||s (RFC 7518 3.4), not DER; libtrust checks exactly that.
  const signature =
    alg === 'ES256'
      ? sign('sha256', Buffer.from(input), { key: material.key, dsaEncoding: 'ieee-p1363' })
      : sign('sha256', Buffer.from(input), material.key);
  return `${input}.${b64url(signature)}`;
}

/**
 * A token CA and a signing certificate issued by it. The registry trusts the CA; tokens carry
 * the leaf in x5c, so the trust path is the one a production issuer would use.
 */
async function createSigningMaterial(dir: string, alg: TokenAlgorithm, signal?: AbortSignal): Promise<SigningMaterial> {
  const p = (name: string) => join(dir, name);
  const o = { signal };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'];
  await run(
    'openssl',
    [
      'req',
      '-x509',
      ...ec,
      '-nodes',
      '-keyout',
      p('token-ca.key'),
      '-out',
      p('token-ca.crt'),
      '-days',
      '7',
      '-subj',
      '/CN=gantry test token CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign',
    ],
    o,
  );
  await writeFile(p('token-signing.ext'), 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n');
  const leafKey = alg === 'ES256' ? ec : ['-newkey', 'rsa:2048'];
  await run(
    'openssl',
    [
      'req',
      '-new',
      ...leafKey,
      '-nodes',
      '-keyout',
      p('token-signing.key'),
      '-out',
      p('token-signing.csr'),
      '-subj',
      '/CN=gantry test token signer',
    ],
    o,
  );
  await run(
    'openssl',
    [
      'x509',
      '-req',
      '-in',
      p('token-signing.csr'),
      '-CA',
      p('token-ca.crt'),
      '-CAkey',
      p('token-ca.key'),
      '-set_serial',
      `0x${randomBytes(8).toString('hex')}`,
      '-days',
      '7',
      '-out',
      p('token-signing.crt'),
      '-extfile',
      p('token-signing.ext'),
    ],
    o,
  );
  const leaf = new X509Certificate(await readFile(p('token-signing.crt')));
  return {
    key: createPrivateKey(await readFile(p('token-signing.key'))),
    x5c: [leaf.raw.toString('base64')],
    rootCertBundle: p('token-ca.crt'),
  };
}

// ---------------------------------------------------------------------------------------------
// Temp dirs: removed by stop(), and at exit for a test that forgets it.

const liveDirs = new Set<string>();
let exitHooked = false;

function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  process.on('exit', () => {
    for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true });
  });
}

// ---------------------------------------------------------------------------------------------
// Server

const REQUEST_LOG_LIMIT = 1000;
const FORM_LIMIT = 64 * 1024;
const DEFAULT_SERVICE = 'gantry-test-registry';
const DEFAULT_ISSUER = 'gantry-test-issuer';

class HttpFailure extends Error {
  constructor(
    readonly status: number,
    readonly body: Record<string, unknown>,
  ) {
    super(`${status}`);
  }
}

function oauthError(status: number, error: string, description: string): HttpFailure {
  // oauth.md errors use RFC 6749's shape; token.md's GET errors use the registry's error list.
  return new HttpFailure(status, {
    error,
    error_description: description,
    errors: [{ code: error.toUpperCase(), message: description }],
  });
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > FORM_LIMIT) throw oauthError(413, 'invalid_request', 'form body too large');
    chunks.push(chunk);
  }
  const type = String(req.headers['content-type'] ?? '');
  if (!type.startsWith('application/x-www-form-urlencoded')) {
    throw oauthError(400, 'invalid_request', `expected application/x-www-form-urlencoded, got ${type || 'nothing'}`);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function parseBasic(header: string | undefined): { username: string; password: string } | 'other' | undefined {
  if (!header) return undefined;
  const m = /^Basic\s+(\S+)$/i.exec(header);
  if (!m) return 'other';
  const text = Buffer.from(m[1] ?? '', 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon < 0) return 'other';
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Starts the issuer and resolves once it listens. */
export async function startTokenServer(options: TokenServerOptions = {}): Promise<TokenServer> {
  const algorithm = options.algorithm ?? 'ES256';
  const service = options.service ?? DEFAULT_SERVICE;
  const issuer = options.issuer ?? DEFAULT_ISSUER;
  const bindHost = options.host ?? '127.0.0.1';
  if (!/^127\.\d+\.\d+\.\d+$/.test(bindHost) && bindHost !== 'localhost') {
    throw new GantryError('TOKEN_SERVER_NOT_LOOPBACK', `token server host ${bindHost} is not a loopback address`, {
      suggestion: 'use 127.0.0.1, 127.0.0.2, ... or localhost',
    });
  }
  let users = options.users ?? [];
  let expiresIn = options.expiresIn ?? 300;

  hookExit();
  const ownDir = options.dir === undefined ? await mkdtemp(join(tmpdir(), 'gantry-token-')) : undefined;
  if (ownDir) liveDirs.add(ownDir);
  const removeOwnDir = async () => {
    if (!ownDir) return;
    await rm(ownDir, { recursive: true, force: true });
    liveDirs.delete(ownDir);
  };

  let material: SigningMaterial;
  let server: Server;
  try {
    material = await createSigningMaterial(options.dir ?? ownDir ?? '', algorithm, options.signal);
    server = options.tls
      ? createHttpsServer({ cert: await readFile(options.tls.certFile), key: await readFile(options.tls.keyFile) })
      : createHttpServer();
  } catch (err) {
    await removeOwnDir();
    throw err;
  }

  const requests: TokenRequestRecord[] = [];
  const refreshTokens = new Map<string, string>();

  const mint = (subject: string, access: readonly ResourceAccess[], o: { expiresIn?: number } = {}): string => {
    const now = Math.floor(Date.now() / 1000);
    return signJwt(material, algorithm, {
      iss: issuer,
      sub: subject,
      aud: service,
      exp: now + (o.expiresIn ?? expiresIn),
      nbf: now,
      iat: now,
      jti: randomBytes(16).toString('hex'),
      access,
    });
  };

  /** The table rows that apply to `username` (undefined: anonymous). */
  const tablesFor = (username: string | undefined): AccessTable[] =>
    users.filter((u) => u.username === '*' || (username !== undefined && u.username === username)).map((u) => u.access);

  const authenticate = (username: string, password: string): boolean => {
    const user = users.find((u) => u.username === username && u.username !== '*');
    return user?.password !== undefined && safeEqual(user.password, password);
  };

  const grantAll = (username: string | undefined, scopes: readonly string[]): ResourceAccess[] => {
    const tables = tablesFor(username);
    const out: ResourceAccess[] = [];
    for (const s of scopes) {
      const parsed = parseScope(s);
      if (!parsed) throw oauthError(400, 'invalid_scope', `malformed scope ${JSON.stringify(s)}`);
      const granted = grantedAccess(tables, parsed);
      if (granted) out.push(granted);
    }
    return out;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://token.invalid');
    const record: {
      -readonly [K in keyof TokenRequestRecord]: TokenRequestRecord[K];
    } = {
      method: req.method ?? '',
      path: url.pathname,
      host: String(req.headers.host ?? ''),
      scopes: [],
      credentials: 'none',
      status: 0,
      granted: [],
      refreshTokenIssued: false,
    };
    let body: Record<string, unknown>;
    try {
      if (url.pathname !== '/token') throw oauthError(404, 'not_found', `no such endpoint ${url.pathname}`);
      const params = req.method === 'GET' ? url.searchParams : req.method === 'POST' ? await readForm(req) : undefined;
      if (!params) throw oauthError(405, 'invalid_request', `method ${req.method} not allowed`);
      record.service = params.get('service') ?? undefined;
      // GET repeats `scope`; oauth2 POST sends one space-separated list. Accept both in both.
      record.scopes = params.getAll('scope').flatMap((s) => s.split(' ').filter((x) => x !== ''));
      record.account = params.get('account') ?? undefined;
      if (record.service !== service) {
        throw oauthError(400, 'invalid_request', `unknown service ${JSON.stringify(record.service ?? '')}`);
      }

      let subject: string | undefined;
      let offline = false;
      if (req.method === 'GET') {
        const basic = parseBasic(req.headers.authorization);
        if (basic === 'other') {
          record.credentials = 'other';
          throw oauthError(401, 'unauthorized', 'only Basic credentials are accepted here');
        }
        if (basic) {
          record.credentials = 'basic';
          record.username = basic.username;
          if (!authenticate(basic.username, basic.password)) {
            throw oauthError(401, 'unauthorized', `bad credentials for ${basic.username}`);
          }
          subject = basic.username;
          offline = params.get('offline_token') === 'true';
        }
      } else {
        const grantType = params.get('grant_type') ?? '';
        record.grantType = grantType;
        record.clientId = params.get('client_id') ?? undefined;
        if (!record.clientId) throw oauthError(400, 'invalid_request', 'client_id is required');
        if (grantType === 'password') {
          record.credentials = 'password';
          const username = params.get('username') ?? '';
          record.username = username;
          if (!authenticate(username, params.get('password') ?? '')) {
            throw oauthError(401, 'invalid_grant', `bad credentials for ${username}`);
          }
          subject = username;
          offline = params.get('access_type') === 'offline';
        } else if (grantType === 'refresh_token') {
          record.credentials = 'refresh_token';
          const owner = refreshTokens.get(params.get('refresh_token') ?? '');
          if (owner === undefined || !users.some((u) => u.username === owner)) {
            throw oauthError(401, 'invalid_grant', 'unknown refresh token');
          }
          record.username = owner;
          subject = owner;
          // A refresh grant hands back the same refresh token (the client keeps using it).
        } else {
          throw oauthError(400, 'unsupported_grant_type', `grant_type ${JSON.stringify(grantType)} is not supported`);
        }
      }

      const granted = grantAll(subject, record.scopes);
      const token = mint(subject ?? '', granted);
      const issuedAt = new Date().toISOString();
      record.granted = granted;
      body =
        req.method === 'GET'
          ? { token, access_token: token, expires_in: expiresIn, issued_at: issuedAt }
          : { access_token: token, scope: record.scopes.join(' '), expires_in: expiresIn, issued_at: issuedAt };
      if (offline && subject !== undefined) {
        const refresh = randomBytes(24).toString('hex');
        refreshTokens.set(refresh, subject);
        body.refresh_token = refresh;
        record.refreshTokenIssued = true;
      }
      record.status = 200;
    } catch (err) {
      const failure = err instanceof HttpFailure ? err : oauthError(500, 'server_error', String(err));
      record.status = failure.status;
      body = failure.body;
    }
    requests.push(record);
    if (requests.length > REQUEST_LOG_LIMIT) requests.splice(0, requests.length - REQUEST_LOG_LIMIT);
    const text = JSON.stringify(body);
    const headers: Record<string, string | number> = {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
      'cache-control': 'no-store',
    };
    if (record.status === 401 && record.credentials !== 'password' && record.credentials !== 'refresh_token') {
      headers['www-authenticate'] = 'Basic realm="gantry-test-token"';
    }
    res.writeHead(record.status, headers);
    res.end(text);
  };

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((err: unknown) => res.destroy(err instanceof Error ? err : new Error(String(err))));
  });

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, bindHost, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    await removeOwnDir();
    throw new GantryError('TOKEN_SERVER_START_FAILED', `token server cannot listen on ${bindHost}: ${String(err)}`, {
      suggestion: 'pick another port or loopback address',
      cause: err,
    });
  }
  // A test that forgets stop() must still exit.
  server.unref();
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  const host = `${bindHost}:${port}`;
  const url = `${options.tls ? 'https' : 'http'}://${host}`;

  let stopped = false;
  return {
    url,
    host,
    realm: `${url}/token`,
    service,
    issuer,
    algorithm,
    rootCertBundle: material.rootCertBundle,
    caFile: options.tls?.caFile,
    requests,
    clearRequests: () => {
      requests.length = 0;
    },
    update: (changes) => {
      if (changes.users) users = changes.users;
      if (changes.expiresIn !== undefined) expiresIn = changes.expiresIn;
    },
    mint,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await removeOwnDir();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// A client for tests

export interface FetchTokenOptions {
  readonly scopes?: readonly string[];
  /** Sent as Basic credentials. */
  readonly username?: string;
  readonly password?: string;
  readonly account?: string;
  readonly signal?: AbortSignal;
}

export interface FetchTokenResult {
  readonly status: number;
  readonly body: Record<string, unknown>;
  /** The token, when one was issued. */
  readonly token?: string;
}

/** `GET realm?service&scope...` as token.md describes, trusting the server's CA. For harness checks. */
export async function fetchToken(server: TokenServer, options: FetchTokenOptions = {}): Promise<FetchTokenResult> {
  const url = new URL(server.realm);
  url.searchParams.set('service', server.service);
  for (const s of options.scopes ?? []) url.searchParams.append('scope', s);
  if (options.account !== undefined) url.searchParams.set('account', options.account);
  const headers: Record<string, string> = {};
  if (options.username !== undefined) {
    headers.authorization = `Basic ${Buffer.from(`${options.username}:${options.password ?? ''}`).toString('base64')}`;
  }
  const ca = server.caFile ? await readFile(server.caFile) : undefined;
  return new Promise((resolve, reject) => {
    const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, {
      headers,
      ca,
      agent: false,
      signal: options.signal,
    });
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
        const token = typeof body.token === 'string' ? body.token : undefined;
        resolve({ status: res.statusCode ?? 0, body, token });
      });
    });
    req.end();
  });
}
