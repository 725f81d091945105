/**
 * Bearer tokens from a token service, per docker's token spec (GET realm?service=&scope=, with
 * basic credentials or anonymously) and its OAuth2 flavour (POST grant_type=refresh_token with an
 * identity token), and the cache that keeps them per realm, service and scope set until shortly
 * before they expire.
 */
import { GantryError, type Phase } from '../../errors.js';
import type { Credential } from '../auth/credential.js';
import { RegistryError, registryError } from '../errors.js';
import { scopesCover } from './scope.js';
import type { HttpRequest, RoundTripper } from './types.js';

/** A token service's answer, as the spec allows: `token` or `access_token`, lifetime in seconds. */
export interface Token {
  readonly token: string;
  /** Epoch milliseconds after which the token is not used again. */
  readonly expiresAt: number;
  readonly scopes: readonly string[];
}

export interface TokenRequest {
  readonly realm: URL;
  readonly service?: string;
  /** Merged scopes (mergeScopes). */
  readonly scopes: readonly string[];
  /** The credential to present, already cleared by the realm policy; undefined asks anonymously. */
  readonly credential?: Credential;
  readonly clientId: string;
  readonly userAgent?: string;
  readonly signal?: AbortSignal;
}

export interface TokenErrorContext {
  /** The registry as the user wrote it, for messages. */
  readonly registry: string;
  readonly phase: Phase;
  /** Why the user's credential was not sent to this realm, when it was not. */
  readonly withheld?: string;
}

/** A token lives this long when the service does not say (the spec's default). */
export const DEFAULT_TOKEN_LIFETIME_S = 60;
const TOKEN_BODY_LIMIT = 1024 * 1024;

/** Tokens are dropped a little before they expire, so a request does not race the expiry. */
function expiry(now: number, lifetimeS: number): number {
  const ms = lifetimeS * 1000;
  return now + ms - Math.min(30_000, ms / 10);
}

function basicHeader(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;
}

export function loginRequired(registry: string, phase: Phase, withheld?: string): RegistryError {
  return withheld
    ? new RegistryError('UNAUTHORIZED', `login required for ${registry} (${withheld})`, {
        status: 401,
        registry,
        phase,
        suggestion: `gantry only sends credentials to the registry's own domain over https; ask the registry's operator about its token service, or run gantry login ${registry} with a registry token`,
      })
    : new RegistryError('UNAUTHORIZED', `login required for ${registry}`, {
        status: 401,
        registry,
        phase,
        suggestion: `run gantry login ${registry}`,
      });
}

export function credentialsRejected(registry: string, credential: Credential, phase: Phase): RegistryError {
  return new RegistryError('UNAUTHORIZED', `credentials for ${registry} were rejected (from ${credential.source})`, {
    status: 401,
    registry,
    phase,
    suggestion: `run gantry login ${registry}`,
  });
}

function hasSecret(c: Credential | undefined): c is Credential {
  return c !== undefined && (c.identityToken !== undefined || c.username !== undefined || c.password !== undefined);
}

function oauthRequest(req: TokenRequest, refreshToken: string): HttpRequest {
  const form = new URLSearchParams();
  form.set('grant_type', 'refresh_token');
  form.set('refresh_token', refreshToken);
  if (req.service !== undefined) form.set('service', req.service);
  form.set('client_id', req.clientId);
  // The OAuth2 form takes the scopes space-separated in one field.
  if (req.scopes.length > 0) form.set('scope', req.scopes.join(' '));
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if (req.userAgent) headers['user-agent'] = req.userAgent;
  return {
    method: 'POST',
    url: req.realm,
    headers,
    body: Buffer.from(form.toString(), 'utf8'),
    ...(req.signal ? { signal: req.signal } : {}),
  };
}

function getRequest(req: TokenRequest, credential: Credential | undefined): HttpRequest {
  const url = new URL(req.realm.href);
  if (req.service !== undefined) url.searchParams.set('service', req.service);
  for (const s of req.scopes) url.searchParams.append('scope', s);
  const headers: Record<string, string> = {};
  if (req.userAgent) headers['user-agent'] = req.userAgent;
  if (credential?.username !== undefined && credential.password !== undefined) {
    url.searchParams.set('account', credential.username);
    headers.authorization = basicHeader(credential.username, credential.password);
  }
  return { method: 'GET', url, headers, ...(req.signal ? { signal: req.signal } : {}) };
}

async function parseToken(text: string, req: TokenRequest, now: number, ctx: TokenErrorContext): Promise<Token> {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    doc = undefined;
  }
  const o = (typeof doc === 'object' && doc !== null ? doc : {}) as Record<string, unknown>;
  const token = typeof o.token === 'string' && o.token !== '' ? o.token : o.access_token;
  if (typeof token !== 'string' || token === '') {
    throw new GantryError('TOKEN_INVALID', `token service ${req.realm.host} for ${ctx.registry} sent no token`, {
      phase: ctx.phase,
      suggestion: "the registry's token service is misbehaving; retry later or report it to its operator",
    });
  }
  const lifetime =
    typeof o.expires_in === 'number' && Number.isFinite(o.expires_in) && o.expires_in > 0
      ? o.expires_in
      : DEFAULT_TOKEN_LIFETIME_S;
  return { token, expiresAt: expiry(now, lifetime), scopes: req.scopes };
}

/**
 * Asks the token service for a token. A credential with an identity token uses the OAuth2 POST
 * (falling back to GET where the service has no OAuth2 endpoint); otherwise GET with basic
 * credentials or anonymously. Rejections become UNAUTHORIZED errors naming the registry.
 */
export async function fetchToken(transport: RoundTripper, req: TokenRequest, ctx: TokenErrorContext): Promise<Token> {
  const now = Date.now();
  const cred = req.credential;
  let response = await transport(
    cred?.identityToken !== undefined ? oauthRequest(req, cred.identityToken) : getRequest(req, cred),
  );
  if (cred?.identityToken !== undefined && (response.status === 404 || response.status === 405)) {
    // Not every token service implements OAuth2; the GET flow is the one all of them have.
    await response.discard();
    response = await transport(getRequest(req, cred));
  }
  if (response.status === 401 || response.status === 403) {
    await response.discard();
    if (hasSecret(cred)) throw credentialsRejected(ctx.registry, cred, ctx.phase);
    throw loginRequired(ctx.registry, ctx.phase, ctx.withheld);
  }
  if (response.status < 200 || response.status > 299) {
    const err: RegistryError = await registryError(response, { registry: req.realm.host, what: 'a token' });
    throw err;
  }
  return parseToken(await response.text(TOKEN_BODY_LIMIT), req, now, ctx);
}

/** Tokens by realm and service; a token asked for a superset of the wanted scopes serves too. */
export class TokenCache {
  readonly #entries = new Map<string, Token[]>();

  #key(realm: URL, service: string | undefined): string {
    return `${realm.href}\n${service ?? ''}`;
  }

  get(realm: URL, service: string | undefined, scopes: readonly string[], now = Date.now()): Token | undefined {
    const key = this.#key(realm, service);
    const list = (this.#entries.get(key) ?? []).filter((t) => t.expiresAt > now);
    this.#entries.set(key, list);
    // Fewest scopes first: the narrowest token that serves is the one the server would mint.
    return list.filter((t) => scopesCover(t.scopes, scopes)).sort((a, b) => a.scopes.length - b.scopes.length)[0];
  }

  set(realm: URL, service: string | undefined, token: Token): void {
    const key = this.#key(realm, service);
    const list = (this.#entries.get(key) ?? []).filter(
      (t) => t.expiresAt > Date.now() && t.scopes.join(' ') !== token.scopes.join(' '),
    );
    list.push(token);
    this.#entries.set(key, list);
  }

  delete(realm: URL, service: string | undefined, token: Token): void {
    const key = this.#key(realm, service);
    const list = this.#entries.get(key);
    if (list)
      this.#entries.set(
        key,
        list.filter((t) => t !== token),
      );
  }
}
