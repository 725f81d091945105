/** Registry credentials: the keychain and its sources, credential helpers, login storage. */
export type { AuthEntry, AuthFile } from './auth-file.js';
export { findEntry, parseAuthFile, readAuthFile } from './auth-file.js';
export type { Credential, Keychain } from './credential.js';
export type { HelperOptions, HelperSecret } from './helper.js';
export { HelperMissingError, helperErase, helperGet, helperStore } from './helper.js';
export { DOCKER_HUB_SERVER_URL, normalizeRegistry, serverUrlFor } from './hosts.js';
export type { KeychainOptions, RepositoryKeychain } from './keychain.js';
export { createKeychain, keychainFromSources } from './keychain.js';
export type { CredentialStoreOptions, LoginOptions, StoredIn } from './login.js';
export { login, removeCredential, storeCredential } from './login.js';
export { containersAuthPaths, containersAuthSource } from './sources/containers-auth.js';
export { dockerConfigPath, dockerConfigSource } from './sources/docker-config.js';
export { envSource } from './sources/env.js';
export type { FlagCredentials } from './sources/flags.js';
export { flagsSource } from './sources/flags.js';
export { githubTokenSource } from './sources/github.js';
export { DEFAULT_DOCKERCONFIGJSON, kubernetesSecretSource } from './sources/kubernetes.js';
export type { CredentialSource, ResolveOptions, SourceContext } from './sources/source.js';
