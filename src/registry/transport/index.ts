/** The registry transport stack: HTTP, retry, challenges, realm policy, tokens, auth, composition. */
export { type AuthOptions, type AuthScheme, schemeFromChallenges, withAuth } from './auth.js';
export { type Challenge, parseChallenges } from './challenge.js';
export {
  createHttpTransport,
  type HttpTransport,
  type HttpTransportOptions,
  isPlainHttpAnswer,
  isTlsHandshakeStall,
  transportError,
} from './http.js';
export {
  bypassesProxy,
  describeProxies,
  type InvalidProxy,
  NO_PROXIES,
  type NoProxyRule,
  type ProxySettings,
  parseNoProxy,
  proxyFor,
  proxyFromEnv,
} from './proxy.js';
export { type RealmVerdict, realmPolicy } from './realm.js';
export {
  backoffDelay,
  DEFAULT_RETRY,
  isRetryable,
  type RetryInfo,
  type RetryOptions,
  withRetry,
} from './retry.js';
export { formatScope, mergeScopes, parseScope, repositoryScope, type Scope, scopesCover } from './scope.js';
export {
  createRegistryTransport,
  defaultUserAgent,
  registryBaseUrl,
  type TransportOptions,
} from './stack.js';
export {
  credentialsRejected,
  DEFAULT_TOKEN_LIFETIME_S,
  fetchToken,
  loginRequired,
  type Token,
  TokenCache,
  type TokenErrorContext,
  type TokenRequest,
} from './token.js';
export type {
  HostSettings,
  HostSettingsResolver,
  HttpMethod,
  HttpRequest,
  HttpResponse,
  RoundTripper,
} from './types.js';
