/**
 * What every API call works with: the local store and a registry client, both opened lazily on
 * first use and shared by the calls that are given the same session. Registry settings come from
 * the options, the environment and the config files, as for the CLI: credentials (explicit ones
 * first, then the keychain), host settings (insecure / plain HTTP for every host, registries.toml,
 * certs.d), chunked uploads, and the registries.toml mirrors used by pulls.
 */
import { idpbuilderHooks } from '../integrations/idpbuilder/registry.js';
import { createKeychain } from '../registry/auth/index.js';
import { RegistryClient } from '../registry/client/client.js';
import {
  createHostSettings,
  loadRegistriesConfig,
  mirrorsFor,
  type RegistriesConfig,
  searchRegistries,
} from '../registry/config/index.js';
import type { TransportOptions } from '../registry/transport/index.js';
import { BlobLocations } from '../store/blob-locations.js';
import { defaultStoreDir, Store } from '../store/store.js';
import type { ProgressSink } from '../util/progress.js';

/** How to reach registries; everything not given comes from the environment and config files. */
export interface RegistryOptions {
  /** Skip TLS verification for every registry (as `--insecure`). */
  readonly insecure?: boolean;
  /** Talk plain HTTP to every registry (as `--plain-http`). */
  readonly plainHttp?: boolean;
  /** A user name, used with `password` before any stored credential. */
  readonly username?: string;
  /** The password or token for `username`, or a function that reads it on first use. */
  readonly password?: string | (() => Promise<string | undefined>);
  /** Upload blobs in chunks of this many bytes (default: one request, chunks after a 413). */
  readonly chunkSize?: number;
  /**
   * Give up a transfer attempt that receives no byte for this long (ms), then retry or resume it
   * (as `--idle-timeout`); default 60 s, 0 never.
   */
  readonly idleTimeoutMs?: number;
  /** The registries.toml to read; default `$GANTRY_CONFIG`, else `~/.config/gantry/registries.toml`. */
  readonly configFile?: string;
  /**
   * The kubeconfig context whose idpbuilder cluster lends its Gitea credential and CA to hosts
   * configured nowhere else (default: the current context; see src/integrations/idpbuilder).
   */
  readonly kubeContext?: string;
}

export interface SessionOptions {
  /** The store: an open Store, its directory, or (default) `$GANTRY_STORE` / `$XDG_DATA_HOME/gantry/store`. */
  readonly store?: Store | string;
  readonly registry?: RegistryOptions;
  /** Cancels every registry request of the session. */
  readonly signal?: AbortSignal;
}

/** A store and a registry client shared by several calls (the CLI makes one per command). */
export interface Session {
  store(): Promise<Store>;
  /**
   * The registry client. Its progress events go to the sink of the latest call that gave one, so
   * calls made one after another on a session each see their own transfers.
   */
  client(progress?: ProgressSink): Promise<RegistryClient>;
  /** Mirrors of a registry from registries.toml, tried in order before it for pulls. */
  mirrors(registry: string): Promise<readonly string[]>;
  /** The registries a short name may mean, in order (registries.conf's unqualified-search-registries, else docker.io). */
  searchRegistries(): Promise<readonly string[]>;
  /** The transport settings of the session (keychain, host settings), e.g. to verify a login. */
  transport(): Promise<TransportOptions>;
}

/** Options every API function takes. */
export interface CommonOptions extends SessionOptions {
  /** Reuse the store and client of a session instead of opening new ones. */
  readonly session?: Session;
  /** Receives progress events (steps started and done, bytes moved, RUN output). */
  readonly progress?: ProgressSink;
}

export function createSession(options: SessionOptions = {}): Session {
  const registry = options.registry ?? {};
  let store: Promise<Store> | undefined;
  let setup: Promise<{ transport: TransportOptions; config: RegistriesConfig }> | undefined;
  let client: Promise<RegistryClient> | undefined;
  let sink: ProgressSink | undefined;
  const settings = () => {
    setup ??= (async () => {
      const config = await loadRegistriesConfig(registry.configFile ? { path: registry.configFile } : {});
      // A host configured nowhere may be an idpbuilder cluster's Gitea: its credential and CA then
      // come from the cluster, which is asked only about such hosts.
      const idpbuilder = idpbuilderHooks(registry.kubeContext !== undefined ? { context: registry.kubeContext } : {});
      const hostSettings = createHostSettings({
        config,
        insecure: registry.insecure ?? false,
        plainHttp: registry.plainHttp ?? false,
        fallbackCa: idpbuilder.ca,
      });
      const password = typeof registry.password === 'function' ? await registry.password() : registry.password;
      const keychain = createKeychain({
        ...(registry.username !== undefined && password !== undefined
          ? { flags: { username: registry.username, password } }
          : {}),
        fallback: [idpbuilder.credentials],
      });
      const transport: TransportOptions = {
        keychain,
        hostSettings,
        ...(options.signal ? { signal: options.signal } : {}),
        ...(registry.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: registry.idleTimeoutMs }),
      };
      return { transport, config };
    })();
    return setup;
  };
  // The store's directory without opening the store: a registry-only command creates nothing
  // there until it has a blob location to remember.
  const storeDir = (): string => {
    const given = options.store;
    return given instanceof Store ? given.dir : (given ?? defaultStoreDir());
  };
  return {
    store: () => {
      const given = options.store;
      store ??= given instanceof Store ? Promise.resolve(given) : Store.open(given ? { dir: given } : {});
      return store;
    },
    client: (progress) => {
      if (progress) sink = progress;
      client ??= settings().then(
        ({ transport }) =>
          new RegistryClient({
            transport,
            progress: (event) => sink?.(event),
            ...(registry.chunkSize !== undefined ? { chunkSize: registry.chunkSize } : {}),
            blobLocations: new BlobLocations(storeDir()),
          }),
      );
      return client;
    },
    mirrors: async (host) => mirrorsFor((await settings()).config, host),
    searchRegistries: async () => searchRegistries((await settings()).config),
    transport: async () => (await settings()).transport,
  };
}

/** The session to use for one call: the one given, else a new one from the options. */
export function sessionOf(options: CommonOptions): Session {
  return options.session ?? createSession(options);
}
