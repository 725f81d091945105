/**
 * Builds the registry client of one command from its flags, the environment and the config
 * files: credentials (flags first), host settings (--insecure/--plain-http, registries.toml,
 * certs.d), the overall deadline, and progress.
 */
import { createKeychain } from '../registry/auth/index.js';
import { RegistryClient } from '../registry/client/client.js';
import { createHostSettings, loadRegistriesConfig, type RegistriesConfig } from '../registry/config/index.js';
import type { TransportOptions } from '../registry/transport/index.js';
import type { ProgressSink } from '../util/progress.js';
import type { GlobalFlags } from './context.js';

export interface ClientSetup {
  readonly flags: GlobalFlags;
  readonly signal: AbortSignal;
  readonly password?: string;
  readonly progress?: ProgressSink;
}

export async function transportOptions(
  setup: ClientSetup,
): Promise<{ transport: TransportOptions; config: RegistriesConfig }> {
  const config = await loadRegistriesConfig();
  const hostSettings = createHostSettings({ config, insecure: setup.flags.insecure, plainHttp: setup.flags.plainHttp });
  const keychain = createKeychain(
    setup.flags.username !== undefined && setup.password !== undefined
      ? { flags: { username: setup.flags.username, password: setup.password } }
      : {},
  );
  return { transport: { keychain, hostSettings, signal: setup.signal }, config };
}

export async function createClient(setup: ClientSetup): Promise<{ client: RegistryClient; config: RegistriesConfig }> {
  const { transport, config } = await transportOptions(setup);
  const client = new RegistryClient({
    transport,
    ...(setup.progress ? { progress: setup.progress } : {}),
    ...(setup.flags.chunkSize !== undefined ? { chunkSize: setup.flags.chunkSize } : {}),
  });
  return { client, config };
}
