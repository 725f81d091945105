/**
 * The contract between src/api/build.ts and a project front end (Python, Node.js): the options
 * every project build takes, and the two things a front end does with them (plan, build).
 */

import type { Isolation } from '../../engine/executor/index.js';
import type { LayerFormat } from '../../engine/solver/steps.js';
import type { IoOptions } from '../../errors.js';
import type { Image, ImageIndex } from '../../oci/image.js';
import type { Platform } from '../../oci/types.js';
import type { RegistryClient } from '../../registry/client/client.js';
import type { Store } from '../../store/store.js';
import type { ProgressSink } from '../../util/progress.js';
import type { SecretSource } from '../dockerfile/index.js';
import type { Detection } from './detect.js';
import type { ProjectPlan } from './plan.js';

export interface ProjectBuildOptions extends IoOptions {
  readonly context: string;
  readonly store: Store;
  /** The registry client, for a base that is not in the store (mirrors apply). */
  readonly client: () => Promise<RegistryClient>;
  /** Mirrors of a registry host (registries.toml), tried first for the base. */
  readonly mirrors?: (registry: string) => Promise<readonly string[]>;
  readonly platforms?: readonly Platform[];
  readonly mediaType?: 'oci' | 'docker';
  readonly progress?: ProgressSink;
  /** Flags; each wins over the project configuration. */
  readonly from?: string;
  readonly workdir?: string;
  readonly entrypoint?: readonly string[];
  readonly cmd?: readonly string[];
  /** `KEY=VALUE`. */
  readonly env?: readonly string[];
  readonly user?: string;
  /** `PORT[/PROTO]`. */
  readonly expose?: readonly string[];
  readonly labels?: Readonly<Record<string, string>>;
  /** Package index settings (pip's; the npm registry for Node.js). */
  readonly indexUrl?: string;
  readonly extraIndexUrls?: readonly string[];
  readonly findLinks?: readonly string[];
  /** Skip the dependency layer. */
  readonly noDeps?: boolean;
  /** Python: an existing virtual environment packed as the dependency layer (refused for another platform). */
  readonly venv?: string;
  /** Python: build a wheel of the project and install it into the venv instead of copying its files. */
  readonly wheel?: boolean;
  readonly isolation?: Isolation;
  /** How new layers are compressed; gzip at its default level when unset. */
  readonly layerFormat?: LayerFormat;
  /**
   * Build secrets, by id: `netrc` (index credentials) and `ca` (an extra CA bundle, PEM) are
   * given to the installer for the step only, never written to a layer or the history.
   */
  readonly secrets?: Readonly<Record<string, SecretSource>>;
  /** Node.js: the workspace package to build (a name or a directory), with what it needs. */
  readonly workspace?: string;
  /** Node.js: run the build script in a build stage (default) or take the host's output. */
  readonly buildOn?: 'container' | 'host';
  /** Extra CA files (PEM) for dependency installs, handed in as secrets (`--ca-cert`). */
  readonly caCerts?: readonly string[];
  /** How the front end was chosen (for the plan's reasons). */
  readonly detection?: Detection;
  /** The environment read for PIP_INDEX_URL, GANTRY_PYTHON_BASE, SOURCE_DATE_EPOCH...; default process.env. */
  readonly environment?: NodeJS.ProcessEnv;
}

export interface ProjectBuildResult {
  readonly item: Image | ImageIndex;
  readonly platforms: readonly Platform[];
  readonly plan: ProjectPlan;
}

/** A project front end. */
export interface ProjectFrontEnd {
  /** What `build` would do, without building or fetching more than the base's config. */
  plan(options: ProjectBuildOptions): Promise<ProjectPlan>;
  build(options: ProjectBuildOptions): Promise<ProjectBuildResult>;
}
