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

/**
 * The options only a project build (Python, Node.js) takes, as the library's BuildOptions and
 * `gantry build`'s flags give them; each wins over the project's configuration.
 */
export interface ProjectFlags {
  /** The package index (pip's --index-url; the npm registry for Node.js). */
  readonly indexUrl?: string;
  readonly extraIndexUrls?: readonly string[];
  /** Directories (or URLs) of wheels and packages, as pip's --find-links. */
  readonly findLinks?: readonly string[];
  /** Skip the dependency layer. */
  readonly noDeps?: boolean;
  /** Python: pack this existing virtual environment as the dependency layer instead of installing (refused when its Python or architecture differs from the target). */
  readonly venv?: string;
  /** Python: build a wheel of the project (its own build backend, from the base) and install it into the venv instead of copying its files. */
  readonly wheel?: boolean;
  /** Where PIP_INDEX_URL, GANTRY_PYTHON_BASE, SOURCE_DATE_EPOCH... are read; default process.env. */
  readonly environment?: NodeJS.ProcessEnv;
  /** Node.js: the workspace package to build (name or directory), with only what it needs. */
  readonly workspace?: string;
  /** Extra CA certificates (PEM files) for dependency installs, as build secrets: never in a layer. */
  readonly caCerts?: readonly string[];
  /** Node.js: run the build script in a build stage (default) or take its output from the host. */
  readonly buildOn?: 'container' | 'host';
}

export interface ProjectBuildOptions extends IoOptions, ProjectFlags {
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
  readonly isolation?: Isolation;
  /** Run every step again (`--no-cache`). */
  readonly noCache?: boolean;
  /** How new layers are compressed; gzip at its default level when unset. */
  readonly layerFormat?: LayerFormat;
  /**
   * Build secrets, by id: `netrc` (index credentials) and `ca` (an extra CA bundle, PEM) are
   * given to the installer for the step only, never written to a layer or the history.
   */
  readonly secrets?: Readonly<Record<string, SecretSource>>;
  /** How the front end was chosen (for the plan's reasons). */
  readonly detection?: Detection;
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
