/** Registry settings: registries.toml (mirrors, http, insecure, ca), certs.d, per-host transport settings. */
export type { CertsForHost } from './certs.js';
export { defaultCertsDirs, loadCertsFor } from './certs.js';
export type { HostSettingsOptions } from './host-settings.js';
export { createHostSettings } from './host-settings.js';
export type { LoadRegistriesConfigOptions, RegistriesConfig, RegistryConfig } from './registries.js';
export {
  EMPTY_REGISTRIES_CONFIG,
  loadRegistriesConfig,
  mirrorsFor,
  parseRegistriesConfig,
  registriesConfigPath,
  registryConfigFor,
} from './registries.js';
