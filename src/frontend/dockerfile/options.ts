/** What a Dockerfile build takes and gives. */
import type { Isolation } from '../../engine/executor/index.js';
import type { ResolvedImage, UsedRecord } from '../../engine/solver/solver.js';
import type { LayerFormat } from '../../engine/solver/steps.js';
import type { IoOptions } from '../../errors.js';
import type { Image, ImageIndex } from '../../oci/image.js';
import type { Platform } from '../../oci/types.js';
import type { RegistryClient } from '../../registry/client/client.js';
import type { ImportedRecord } from '../../store/cache.js';
import type { Store } from '../../store/store.js';
import type { ProgressSink } from '../../util/progress.js';
import type { BuildContext } from './contexts.js';
import type { SecretSource } from './mounts.js';

export interface DockerfileBuildOptions extends IoOptions {
  readonly context: string;
  /** Path of the Dockerfile; default `<context>/Dockerfile`. */
  readonly dockerfile?: string;
  readonly target?: string;
  readonly buildArgs?: Readonly<Record<string, string>>;
  readonly platforms?: readonly Platform[];
  readonly noCache?: boolean;
  readonly noCacheFilter?: readonly string[];
  readonly isolation?: Isolation;
  /** How new layers are compressed; gzip at its default level when unset. */
  readonly layerFormat?: LayerFormat;
  /** `--label`s for the final image. */
  readonly labels?: Readonly<Record<string, string>>;
  readonly store: Store;
  /** The registry client, for bases that are not in the store. */
  readonly client?: () => Promise<RegistryClient>;
  readonly progress?: ProgressSink;
  readonly mediaType?: 'oci' | 'docker';
  /** Secrets for RUN --mount=type=secret, by id. */
  readonly secrets?: Readonly<Record<string, SecretSource>>;
  /** Force a snapshotter (tests); default overlay when it can be mounted. */
  readonly snapshotter?: 'overlay' | 'walk';
  /** Agent sockets for RUN --mount=type=ssh, by id (see ssh.ts). */
  readonly sshSockets?: Readonly<Record<string, string>>;
  /** Named contexts (`--build-context`): they replace the stage or image of that name. */
  readonly buildContexts?: Readonly<Record<string, BuildContext>>;
  /** Records of imported caches (`--cache-from`), asked after a local miss. */
  readonly cacheImports?: readonly ReadonlyMap<string, ImportedRecord>[];
}

export interface DockerfileBuildResult {
  readonly item: Image | ImageIndex;
  readonly platforms: readonly Platform[];
  /** Every step the build used, with its layer: what `--cache-to` exports. */
  readonly usedRecords: readonly UsedRecord[];
  /** The images FROM resolved to (every stage, every platform), for provenance and the SBOM. */
  readonly bases: readonly ResolvedImage[];
}
