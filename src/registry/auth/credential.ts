/**
 * The credential vocabulary shared by the auth sources, the keychain and the transport: what a
 * registry login is (user/password, an OAuth2 refresh token, or a bearer token) and who resolves it.
 */
import type { IoOptions } from '../../errors.js';

export interface Credential {
  readonly username?: string;
  readonly password?: string;
  /** An OAuth2 refresh token (docker config "identitytoken"): used with POST grant_type=refresh_token. */
  readonly identityToken?: string;
  /** A bearer token to send as is (docker config "registrytoken"). */
  readonly registryToken?: string;
  /** Where it came from, for messages: 'flags', 'env GANTRY_USERNAME', '~/.docker/config.json', 'credsStore pass', ... */
  readonly source: string;
}

/** Resolves the credential for a registry host ('docker.io', 'localhost:5000'), or undefined for anonymous. */
export interface Keychain {
  resolve(registry: string, options?: IoOptions): Promise<Credential | undefined>;
}
