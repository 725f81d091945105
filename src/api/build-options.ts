/**
 * The options of a build (`gantry build`), by the front end they apply to: every build, a
 * Dockerfile build, a directory build, a project build (Python, Node.js).
 */

import type { Readable, Writable } from 'node:stream';
import type { Annotation } from '../engine/annotate.js';
import type { CacheSpec } from '../engine/cache/spec.js';
import type { Isolation } from '../engine/executor/index.js';
import type { OutputSpec } from '../engine/output.js';
import type { BuildContext, SecretSource, SshSpec } from '../frontend/dockerfile/index.js';
import type { ProjectFlags, ProjectKind } from '../frontend/project/index.js';
import type { Platform } from '../oci/types.js';
import type { SupplyChainOptions } from './attest.js';
import type { CommonOptions } from './session.js';

/** What every build takes, whatever the front end. */
export interface BuildBaseOptions extends CommonOptions, SupplyChainOptions {
  /** How the build's new layers are compressed: gzip (the default) or zstd (`--compression`). */
  readonly compression?: 'gzip' | 'zstd';
  /** gzip 0-9 (default 6) or zstd 1-22 (default 3) (`--compression-level`). */
  readonly compressionLevel?: number;
  /**
   * The build context: a directory, `-` (a tar, tar.gz or Dockerfile read from `stdin`), an
   * `https://` URL of a tar.gz (or a Dockerfile), or a git URL (`https://host/repo.git#ref:dir`).
   */
  readonly context: string;
  /** Where a `-` context is read from; default process.stdin. */
  readonly stdin?: Readable;
  /** Names for the image (`NAME[:TAG]`, normalized like docker's): stored under them, pushed to them with `push`. */
  readonly tags?: readonly string[];
  /** File outputs and registry pushes, as `OutputSpec`s or `--output` strings (`type=oci,dest=out.tar`). */
  readonly outputs?: readonly (OutputSpec | string)[];
  /** Push to the registry of every tag (and, as buildx does, leave the store alone unless `load`). */
  readonly push?: boolean;
  /** Also name the image in the store when pushing. */
  readonly load?: boolean;
  /** Write the image digest to this file. */
  readonly iidfile?: string;
  /** Write build metadata (JSON, as buildx does) to this file. */
  readonly metadataFile?: string;
  /** Platforms to build (`linux/arm64` or a Platform); default the host's (or the base's). */
  readonly platforms?: readonly (Platform | string)[];
  /** Manifest and config media types; default `oci`. */
  readonly mediaType?: 'oci' | 'docker';
  /** Labels for the final image. */
  readonly labels?: Readonly<Record<string, string>>;
  /** OCI annotations, as `Annotation`s or `--annotation` strings (`[TYPE[PLATFORM]:]KEY=VALUE`). */
  readonly annotations?: readonly (Annotation | string)[];
  /** Where outputs with `dest=-` (`-o -`) write their tar; they are refused without it. */
  readonly stdout?: Writable;
}

/** What only a Dockerfile build takes. */
export interface DockerfileOptions {
  /** The Dockerfile; default CONTEXT/Dockerfile. */
  readonly dockerfile?: string;
  /** Build this stage and what it needs. */
  readonly target?: string;
  readonly buildArgs?: Readonly<Record<string, string>>;
  /** Run every step again. */
  readonly noCache?: boolean;
  /** Run the steps of these stages again. */
  readonly noCacheFilter?: readonly string[];
  /** RUN sandbox; default the strongest the machine allows. */
  readonly isolation?: Isolation;
  /** Secrets for RUN --mount=type=secret, by id. */
  readonly secrets?: Readonly<Record<string, SecretSource>>;
  /** SSH agents for RUN --mount=type=ssh: `default`, `ID=SOCKET` or `ID=KEYFILE[,KEYFILE]` (or SshSpecs). */
  readonly ssh?: readonly (SshSpec | string)[];
  /** Named contexts: NAME -> a directory, `docker-image://REF` or `oci-layout://DIR[:TAG]` (or a BuildContext). */
  readonly buildContexts?: Readonly<Record<string, BuildContext | string>>;
  /** Caches to export the build's records to (`type=registry,ref=REF,mode=max`, `type=local,dest=DIR`). */
  readonly cacheTo?: readonly (CacheSpec | string)[];
  /** Caches to import records from, in order (`type=registry,ref=REF`, `type=local,src=DIR`). */
  readonly cacheFrom?: readonly (CacheSpec | string)[];
}

/** What only a directory build takes (the image config of the one layer). */
export interface DirectoryOptions {
  /** `scratch` (default) or an image in the store. */
  readonly from?: string;
  /** Working directory; the files are placed there (default /). */
  readonly workdir?: string;
  readonly entrypoint?: readonly string[];
  readonly cmd?: readonly string[];
  /** `KEY=VALUE` pairs. */
  readonly env?: readonly string[];
  readonly user?: string;
  /** `PORT[/PROTO]`. */
  readonly expose?: readonly string[];
  /** Patterns (dockerignore syntax) to leave out, after CONTEXT/.dockerignore and .gantryignore. */
  readonly exclude?: readonly string[];
  /** Pack `.git` directories too (left out by default). */
  readonly includeVcs?: boolean;
}

/** What only a project build (Python, Node.js) takes; the directory options apply too. */
export type ProjectOptions = ProjectFlags;

export type FrontEnd = 'dockerfile' | 'directory' | ProjectKind;

export interface BuildOptions extends BuildBaseOptions, DockerfileOptions, DirectoryOptions, ProjectOptions {
  /**
   * The front end (`dir` is `directory`). Default: a Dockerfile build when `dockerfile` is given
   * or CONTEXT/Dockerfile exists and no directory option is set; else a project build when the
   * context has a project's files (pyproject.toml, requirements.txt, ...); else a directory build.
   */
  readonly frontend?: FrontEnd | 'dir';
}
