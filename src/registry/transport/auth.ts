/**
 * The auth layer: learns how a registry wants to be authenticated by pinging `/v2/` once, then
 * authorizes each request to that registry: Basic with the user's credential, or a Bearer token
 * for the request's scopes from the registry's token service (cached, re-fetched once on 401 with
 * any scope the challenge adds). Credentials never leave the registry's host (requests to other
 * hosts pass through untouched) and reach a token realm only when the realm policy allows.
 *
 * A 401 that survives the retry is thrown as a GantryError ('UNAUTHORIZED', or 'DENIED' when the
 * credential was accepted but lacks the access), because only this layer knows whether and which
 * credentials were sent, and so which message is true.
 */
import type { GantryError, Phase } from '../../errors.js';
import type { Credential, Keychain } from '../auth/credential.js';
import { RegistryError } from '../errors.js';
import { type Challenge, parseChallenges } from './challenge.js';
import { realmPolicy } from './realm.js';
import { mergeScopes, parseScope, type Scope } from './scope.js';
import { credentialsRejected, fetchToken, loginRequired, type Token, TokenCache } from './token.js';
import type { HttpRequest, HttpResponse, RoundTripper } from './types.js';

export interface AuthOptions {
  /** The registry as references name it ('docker.io', 'localhost:5000'): the keychain key and the name in messages. */
  readonly registry: string;
  /** The host requests go to (registry-1.docker.io for docker.io); default `registry`. */
  readonly host?: string;
  readonly keychain: Keychain;
  /** Sends token requests (retry -> http); default the inner transport. */
  readonly tokenTransport?: RoundTripper;
  /** OAuth2 client_id; default 'gantry'. */
  readonly clientId?: string;
  /** User-Agent for token requests. */
  readonly userAgent?: string;
}

/** What `/v2/` said about authentication. */
export type AuthScheme =
  | { readonly kind: 'anonymous' }
  | { readonly kind: 'basic' }
  | { readonly kind: 'bearer'; readonly realm: URL; readonly service?: string };

/** Reads the scheme from a 401's challenges: bearer (with a usable realm) before basic. */
export function schemeFromChallenges(challenges: readonly Challenge[]): AuthScheme | undefined {
  for (const c of challenges) {
    const realm = c.params.realm;
    if (c.scheme !== 'bearer' || realm === undefined) continue;
    try {
      const url = new URL(realm);
      const service = c.params.service;
      return service === undefined ? { kind: 'bearer', realm: url } : { kind: 'bearer', realm: url, service };
    } catch {
      // A realm that is not a URL cannot be asked for a token; try the next challenge.
    }
  }
  if (challenges.some((c) => c.scheme === 'basic')) return { kind: 'basic' };
  return undefined;
}

function sameScheme(a: AuthScheme, b: AuthScheme): boolean {
  if (a.kind !== b.kind) return false;
  if (a.kind === 'bearer' && b.kind === 'bearer') return a.realm.href === b.realm.href && a.service === b.service;
  return true;
}

function phaseOf(request: HttpRequest): Phase {
  return request.method === 'GET' || request.method === 'HEAD' ? 'pull' : 'push';
}

function hasHeader(request: HttpRequest, name: string): boolean {
  return Object.keys(request.headers ?? {}).some((k) => k.toLowerCase() === name);
}

function withAuthorization(request: HttpRequest, value: string | undefined): HttpRequest {
  if (value === undefined) return request;
  return { ...request, headers: { ...request.headers, authorization: value } };
}

/** host:port with the scheme's default port made explicit, so 'example.com' and 'example.com:443' match. */
function canonicalHost(url: URL): string {
  const port = url.port || (url.protocol === 'http:' ? '80' : '443');
  return `${url.hostname.toLowerCase()}:${port}`;
}

/** The repository a request URL names (`/v2/<name>/manifests/...`), if any. */
function repositoryOfUrl(url: URL): string | undefined {
  // Greedy: a repository may hold a component named like an endpoint (`team/blobs/app`).
  const m = /^\/v2\/(.+)\/(?:manifests|blobs|tags|referrers)\//.exec(url.pathname);
  return m?.[1];
}

/**
 * The repository a denial is about: the one the URL names (a cross-repository mount asks to pull
 * from the source too, but is refused for the destination), else the one the request wanted to
 * push to, else any.
 */
function deniedRepository(request: HttpRequest, scopes: readonly string[]): { name: string; scope?: Scope } {
  const repositories = scopes.map(parseScope).filter((s): s is Scope => s?.type === 'repository');
  const named = repositoryOfUrl(request.url);
  if (named !== undefined) {
    const scope = repositories.find((s) => s.name === named);
    return scope ? { name: named, scope } : { name: named };
  }
  const scope =
    repositories.find((s) => s.actions.some((a) => a === 'push' || a === '*')) ??
    repositories.find((s) => s.name !== '');
  return scope ? { name: scope.name, scope } : { name: '(unknown repository)' };
}

interface Authorized {
  readonly header?: string;
  /** The token sent, when it came from the token service. */
  readonly token?: Token;
  readonly fromCache: boolean;
  /** The credential was presented to the token service and accepted. */
  readonly credentialAccepted: boolean;
  readonly withheld?: string;
}

/** Wraps `inner` with registry authentication for one registry. */
export function withAuth(inner: RoundTripper, options: AuthOptions): RoundTripper {
  const registry = options.registry;
  const host = options.host ?? registry;
  const tokenTransport = options.tokenTransport ?? inner;
  const clientId = options.clientId ?? 'gantry';
  const tokens = new TokenCache();
  const pings = new Map<string, Promise<AuthScheme>>();
  const inflight = new Map<string, Promise<Token>>();
  let credential: Promise<Credential | undefined> | undefined;

  const isRegistryUrl = (url: URL): boolean => {
    try {
      return canonicalHost(url) === canonicalHost(new URL(`${url.protocol}//${host}`));
    } catch {
      return false;
    }
  };

  function resolveCredential(signal: AbortSignal | undefined): Promise<Credential | undefined> {
    if (!credential) {
      credential = options.keychain.resolve(registry, signal ? { signal } : {});
      // A failed lookup (e.g. an aborted credential helper) is not remembered.
      credential.catch(() => {
        credential = undefined;
      });
    }
    return credential;
  }

  function ping(origin: string, signal: AbortSignal | undefined): Promise<AuthScheme> {
    let p = pings.get(origin);
    if (!p) {
      p = (async (): Promise<AuthScheme> => {
        const res = await inner({
          method: 'GET',
          url: new URL('/v2/', origin),
          ...(options.userAgent ? { headers: { 'user-agent': options.userAgent } } : {}),
          ...(signal ? { signal } : {}),
        });
        await res.discard();
        if (res.status !== 401) return { kind: 'anonymous' };
        return schemeFromChallenges(parseChallenges(res.all('www-authenticate'))) ?? { kind: 'anonymous' };
      })();
      pings.set(origin, p);
      p.catch(() => pings.delete(origin));
    }
    return p;
  }

  function token(
    scheme: Extract<AuthScheme, { kind: 'bearer' }>,
    scopes: readonly string[],
    cred: Credential | undefined,
    withheld: string | undefined,
    request: HttpRequest,
  ): Promise<Token> {
    const key = `${scheme.realm.href}\n${scheme.service ?? ''}\n${scopes.join(' ')}`;
    let p = inflight.get(key);
    if (!p) {
      p = fetchToken(
        tokenTransport,
        {
          realm: scheme.realm,
          ...(scheme.service !== undefined ? { service: scheme.service } : {}),
          scopes,
          ...(cred ? { credential: cred } : {}),
          clientId,
          ...(options.userAgent ? { userAgent: options.userAgent } : {}),
          ...(request.signal ? { signal: request.signal } : {}),
        },
        { registry, phase: phaseOf(request), ...(withheld ? { withheld } : {}) },
      ).then((t) => {
        tokens.set(scheme.realm, scheme.service, t);
        return t;
      });
      inflight.set(key, p);
      const done = (): void => {
        inflight.delete(key);
      };
      p.then(done, done);
    }
    return p;
  }

  async function authorize(
    scheme: AuthScheme,
    cred: Credential | undefined,
    scopes: readonly string[],
    request: HttpRequest,
  ): Promise<Authorized> {
    if (scheme.kind === 'anonymous') return { fromCache: false, credentialAccepted: false };
    if (cred?.registryToken !== undefined) {
      return { header: `Bearer ${cred.registryToken}`, fromCache: false, credentialAccepted: false };
    }
    if (scheme.kind === 'basic') {
      if (cred?.username === undefined) return { fromCache: false, credentialAccepted: false };
      const basic = Buffer.from(`${cred.username}:${cred.password ?? ''}`, 'utf8').toString('base64');
      return { header: `Basic ${basic}`, fromCache: false, credentialAccepted: false };
    }
    const verdict = realmPolicy(scheme.realm, request.url);
    const presented = verdict.allowed ? cred : undefined;
    const withheld =
      cred && !verdict.allowed
        ? `credentials withheld from token service ${scheme.realm.host}: ${verdict.reason}`
        : undefined;
    const cached = tokens.get(scheme.realm, scheme.service, scopes);
    const t = cached ?? (await token(scheme, scopes, presented, withheld, request));
    return {
      header: `Bearer ${t.token}`,
      token: t,
      fromCache: cached !== undefined,
      credentialAccepted: presented !== undefined,
      ...(withheld ? { withheld } : {}),
    };
  }

  /** The error for a 401 that retrying did not cure. */
  function finalError(
    request: HttpRequest,
    response: HttpResponse,
    cred: Credential | undefined,
    auth: Authorized,
    scopes: readonly string[],
  ): GantryError {
    const phase = phaseOf(request);
    const challenge = parseChallenges(response.all('www-authenticate')).find((c) => c.scheme === 'bearer');
    if (!cred || auth.withheld) return loginRequired(registry, phase, auth.withheld);
    if (auth.credentialAccepted || challenge?.params.error === 'insufficient_scope') {
      // The token service took the credential but the token does not grant what the request needs.
      const { name: repo, scope: wanted } = deniedRepository(request, scopes);
      const push = wanted?.actions.some((a) => a === 'push' || a === '*') ?? phase === 'push';
      return new RegistryError('DENIED', `access to ${repo} on ${registry} denied`, {
        status: response.status,
        registry,
        phase,
        suggestion: push
          ? `check that your account (from ${cred.source}) may push there`
          : `check that ${repo} exists and that your account (from ${cred.source}) may pull from it`,
      });
    }
    return credentialsRejected(registry, cred, phase);
  }

  return async (request) => {
    if (!isRegistryUrl(request.url) || hasHeader(request, 'authorization')) return inner(request);
    const origin = request.url.origin;
    let scheme = await ping(origin, request.signal);
    // Registries that need no auth never make the keychain run a credential helper.
    let cred = scheme.kind === 'anonymous' ? undefined : await resolveCredential(request.signal);
    let scopes = mergeScopes(request.scopes);
    let auth = await authorize(scheme, cred, scopes, request);
    let response = await inner(withAuthorization(request, auth.header));
    if (response.status !== 401) return response;

    // One more try when something can change: a scheme learned from this 401 (the ping said
    // nothing), a scope the challenge adds (insufficient_scope), or a cached token gone stale.
    const challenges = parseChallenges(response.all('www-authenticate'));
    const learned = schemeFromChallenges(challenges);
    const added = challenges
      .filter((c) => c.scheme === 'bearer' && c.params.scope !== undefined)
      .flatMap((c) => (c.params.scope ?? '').split(' '));
    const widened = mergeScopes(scopes, added);
    const schemeChanged = learned !== undefined && !sameScheme(learned, scheme);
    const scopesGrew = widened.join(' ') !== scopes.join(' ');
    if (auth.token && scheme.kind === 'bearer') tokens.delete(scheme.realm, scheme.service, auth.token);
    if (!(schemeChanged || scopesGrew || auth.fromCache)) {
      await response.discard();
      throw finalError(request, response, cred, auth, scopes);
    }
    await response.discard();
    if (learned && schemeChanged) {
      scheme = learned;
      pings.set(origin, Promise.resolve(learned));
      cred = await resolveCredential(request.signal);
    }
    scopes = widened;
    auth = await authorize(scheme, cred, scopes, request);
    response = await inner(withAuthorization(request, auth.header));
    if (response.status !== 401) return response;
    await response.discard();
    throw finalError(request, response, cred, auth, scopes);
  };
}
