/**
 * One place credentials can come from. The keychain asks each source in order and takes the
 * first answer; a source answers undefined when it has nothing for the registry.
 */
import type { IoOptions } from '../../../errors.js';
import type { Credential } from '../credential.js';

export interface ResolveOptions extends IoOptions {
  /** The repository being accessed, for sources with per-namespace keys (auth.json 'quay.io/team'). */
  readonly repository?: string;
}

export interface CredentialSource {
  /** For messages and debugging: 'flags', 'env', 'docker config', ... */
  readonly name: string;
  resolve(registry: string, options: ResolveOptions): Promise<Credential | undefined>;
}

/** Where the files live: the caller's environment and home, so tests and embedders can point them anywhere. */
export interface SourceContext {
  readonly env: NodeJS.ProcessEnv;
  readonly home: string;
}
