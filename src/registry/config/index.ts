/**
 * Registry settings: registries.toml (mirrors, http, insecure, ca), containers registries.conf
 * (insecure, blocked, mirrors, unqualified-search-registries), certs.d, per-host transport settings.
 */
export type { CertsForHost } from './certs.js';
export { defaultCertsDirs, loadCertsFor } from './certs.js';
export type {
  ContainersMirror,
  ContainersRegistriesConf,
  ContainersRegistry,
  LoadContainersConfOptions,
} from './containers.js';
export {
  containersConfPaths,
  loadContainersRegistriesConf,
  parseContainersRegistriesConf,
} from './containers.js';
export { type ConfigFile, registryConfigFiles } from './files.js';
export type { HostSettingsOptions } from './host-settings.js';
export { createHostSettings } from './host-settings.js';
export type { LoadRegistriesConfigOptions, RegistriesConfig, RegistryConfig } from './registries.js';
export {
  blockedBy,
  blockedPrefixes,
  configFilesRead,
  EMPTY_REGISTRIES_CONFIG,
  loadRegistriesConfig,
  mirrorsFor,
  parseRegistriesConfig,
  registriesConfigPath,
  registryConfigFor,
  searchRegistries,
} from './registries.js';
