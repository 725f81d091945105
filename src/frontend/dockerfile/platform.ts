/**
 * One platform of a Dockerfile build: the stages the target needs, each started at once (the
 * solver runs their steps within its budget), each stage converted instruction by instruction
 * into steps. A stage is converted once per platform; identical steps across stages and platforms
 * run once in the solver.
 */
import { closest } from '../../dockerfile/flags.js';
import {
  type CheckDirective,
  expandInstruction,
  filterWarnings,
  type Instruction,
  type Instructions,
  type Stage,
  type StageInstruction,
} from '../../dockerfile/index.js';
import type { FileHashCache, IgnoreMatcher } from '../../engine/context/index.js';
import { cacheKey } from '../../engine/solver/keys.js';
import type { Solver } from '../../engine/solver/solver.js';
import { GantryError } from '../../errors.js';
import type { Image, Layer } from '../../oci/image.js';
import { defaultCreated, newImage } from '../../oci/mutate.js';
import { formatPlatform, parsePlatform } from '../../oci/platform.js';
import type { ImageConfig, Platform } from '../../oci/types.js';
import { type BuildContext, layoutImage } from './contexts.js';
import { copy } from './copy.js';
import { metadata } from './metadata.js';
import { onbuild, runTriggers } from './onbuild.js';
import type { DockerfileBuildOptions } from './options.js';
import { run } from './run.js';
import { arg, expandGlobal, globalScope, neededStages, stageIndex } from './stages.js';
import { type BuildScope, type Dispatch, editConfig, lookup, type StageState, withDefaultPath } from './state.js';
import { user, workdir } from './workdir.js';

/** What every platform of one build shares. */
export interface SharedBuild {
  readonly solver: Solver;
  readonly context: string;
  readonly hashes: FileHashCache;
  readonly ignore: IgnoreMatcher;
  readonly escape: '\\' | '`';
  /** The Dockerfile's `# check=` directive: the rules it skips apply to the checks made here too. */
  readonly check?: CheckDirective;
}

/** What a stage starts from. */
interface BaseState {
  readonly image?: Image;
  readonly key: string;
  readonly layers: readonly Layer[];
  readonly config: ImageConfig;
  readonly args: ReadonlyMap<string, string | undefined>;
}

interface StageResult extends BaseState {
  readonly image: Image;
}

function fail(code: string, message: string, suggestion: string): GantryError {
  return new GantryError(code, message, { phase: 'build', suggestion });
}

/** A base (FROM, COPY --from) that could not be resolved: the same error, naming what asked for it. */
function baseError(err: unknown, what: string, suggestion?: string): GantryError {
  if (!GantryError.is(err)) return fail('BASE_RESOLVE_FAILED', `${what}: ${String(err)}`, 'check the image name');
  return new GantryError(err.code, `${what}: ${err.message}`, {
    phase: err.phase,
    suggestion: suggestion ?? err.suggestion ?? 'check the image name',
    cause: err,
  });
}

export class PlatformBuild implements BuildScope {
  readonly options: DockerfileBuildOptions;
  readonly solver: Solver;
  readonly context: string;
  readonly ignore: IgnoreMatcher;
  readonly hashes: FileHashCache;
  readonly escape: '\\' | '`';
  readonly check: CheckDirective | undefined;
  readonly buildArgs: Readonly<Record<string, string>>;
  readonly global: ReadonlyMap<string, string | undefined>;
  readonly created = defaultCreated();
  readonly #stages: readonly Stage[];
  readonly #platform: Platform;
  readonly #results = new Map<number, Promise<StageResult>>();

  constructor(options: DockerfileBuildOptions, instructions: Instructions, platform: Platform, shared: SharedBuild) {
    this.options = options;
    this.solver = shared.solver;
    this.context = shared.context;
    this.ignore = shared.ignore;
    this.hashes = shared.hashes;
    this.escape = shared.escape;
    this.check = shared.check;
    this.buildArgs = options.buildArgs ?? {};
    this.#stages = instructions.stages;
    this.#platform = platform;
    this.global = globalScope(instructions.globalArgs, this.buildArgs, platform, this.escape);
  }

  #stageIndex(nameOrIndex: string): number | undefined {
    if (this.#named(nameOrIndex)) return undefined;
    return stageIndex(this.#stages, nameOrIndex);
  }

  /** The named context (`--build-context`) called `name`: it wins over a stage of that name. */
  #named(name: string): BuildContext | undefined {
    const all = this.options.buildContexts ?? {};
    return all[name] ?? all[name.toLowerCase()];
  }

  namedDir(name: string): string | undefined {
    const c = this.#named(name);
    return c?.kind === 'dir' ? c.path : undefined;
  }

  /** The image of a named image context (docker-image:// or oci-layout://). */
  async #namedImage(c: BuildContext, what: string, platform: Platform): Promise<Image> {
    const o = { signal: this.options.signal };
    if (c.kind === 'image') return this.solver.image(c.ref, platform);
    if (c.kind === 'oci-layout') return layoutImage(c, platform, o);
    throw fail(
      'BUILD_CONTEXT_NOT_AN_IMAGE',
      `${what}: the build context is a directory, not an image`,
      'use it in COPY --from or RUN --mount from=, or give docker-image://REF',
    );
  }

  async run(): Promise<Image> {
    let target = this.#stages.length - 1;
    if (this.options.target !== undefined) {
      const t = this.#stageIndex(this.options.target);
      if (t === undefined) {
        const names = this.#stages.map((s) => s.name).filter(Boolean);
        throw fail(
          'UNKNOWN_TARGET',
          `target stage ${JSON.stringify(this.options.target)} not found`,
          names.length > 0 ? `stages: ${names.join(', ')}` : 'name a stage with FROM ... AS NAME',
        );
      }
      target = t;
    }
    // Start every needed stage now, so that independent ones overlap.
    const needed = neededStages(
      this.#stages,
      target,
      (word) => expandGlobal(word, this.global, this.escape),
      (name) => this.#named(name) !== undefined,
    );
    for (const i of needed) this.#stage(i);
    const results = await Promise.allSettled(needed.map((i) => this.#stage(i)));
    for (const r of results) if (r.status === 'rejected') throw r.reason;
    const result = await this.#stage(target);
    return result.image;
  }

  #stage(i: number): Promise<StageResult> {
    let p = this.#results.get(i);
    if (!p) {
      p = this.#runStage(this.#stages[i] as Stage);
      // Errors surface where the stage is awaited; avoid an unhandled rejection meanwhile.
      p.catch(() => {});
      this.#results.set(i, p);
    }
    return p;
  }

  /** `stage` or, when several platforms are built, `linux/arm64 stage` (as BuildKit prefixes its steps). */
  #stageLabel(stage: Stage): string {
    const name = stage.name ?? `stage-${stage.index}`;
    return (this.options.platforms?.length ?? 0) > 1 ? `${formatPlatform(this.#platform)} ${name}` : name;
  }

  async #runStage(stage: Stage): Promise<StageResult> {
    const o = { signal: this.options.signal };
    const fromExpanded = expandInstruction(stage.from, (n) => this.global.get(n), { escape: this.escape });
    const platform = fromExpanded.platform ? parsePlatform(fromExpanded.platform) : this.#platform;
    const baseName = fromExpanded.image;
    const baseStage = this.#stageIndex(baseName);
    const fromStage = baseStage !== undefined && baseStage < stage.index ? baseStage : undefined;
    const base = await this.solver.source(
      fromStage !== undefined
        ? ['stage', formatPlatform(this.#platform), String(fromStage)]
        : ['image', baseName, formatPlatform(platform)],
      `[${this.#stageLabel(stage)}] FROM ${baseName}`,
      () => this.#base(baseName, fromStage, platform, stage.from.line),
    );
    const state: StageState = {
      platform,
      config: withDefaultPath(base.config),
      layers: [...base.layers],
      history: [...(base.config.history ?? [])],
      key: base.key,
      args: new Map(base.args),
      cmdSet: false,
    };
    const noCache =
      this.options.noCache === true ||
      (stage.name !== undefined && (this.options.noCacheFilter ?? []).includes(stage.name));
    // ONBUILD triggers of the base run first, then are cleared.
    await runTriggers(state, (instr) => this.#dispatch(state, instr, stage, noCache, 'ONBUILD '));
    for (const instr of stage.instructions) await this.#dispatch(state, instr, stage, noCache);
    const isTarget =
      this.options.target === undefined
        ? stage.index === this.#stages.length - 1
        : this.#stageIndex(this.options.target) === stage.index;
    const labels = this.options.labels;
    if (isTarget && labels && Object.keys(labels).length > 0) {
      editConfig(state, (c) => {
        c.Labels = { ...(c.Labels ?? {}), ...labels };
      });
    }
    const added = state.layers.slice(base.layers.length);
    const { config: finalConfig, history } = state;
    const image = await newImage(
      {
        ...(base.image ? { base: base.image } : { platform }),
        layers: added.map((layer) => ({ layer })),
        config: (cfg) => ({ ...finalConfig, rootfs: cfg.rootfs, history }),
        mediaType: this.options.mediaType ?? 'oci',
      },
      o,
    );
    return { image, layers: state.layers, key: state.key, config: await image.configFile(o), args: state.args };
  }

  /** What a stage starts from: scratch, an earlier stage, or an image. */
  async #base(name: string, fromStage: number | undefined, platform: Platform, line: number): Promise<BaseState> {
    const o = { signal: this.options.signal };
    if (name.toLowerCase() === 'scratch') {
      const config: ImageConfig = {
        architecture: platform.architecture,
        os: platform.os,
        ...(platform.variant ? { variant: platform.variant } : {}),
        rootfs: { type: 'layers', diff_ids: [] },
        config: {},
      };
      return { key: cacheKey(['scratch', formatPlatform(platform)]), layers: [], config, args: new Map() };
    }
    if (fromStage !== undefined) return this.#stage(fromStage);
    try {
      const named = this.#named(name);
      const image = named
        ? await this.#namedImage(named, `FROM ${name}`, platform)
        : await this.solver.image(name, platform);
      const config = await image.configFile(o);
      if (config.os !== platform.os || config.architecture !== platform.architecture) {
        const got = formatPlatform({ os: config.os, architecture: config.architecture });
        const message = `Base image ${name} was pulled with platform "${got}", expected "${formatPlatform(platform)}" for current build`;
        const kept = filterWarnings([{ code: 'InvalidBaseImagePlatform', message, line }], this.check);
        if (kept.length > 0)
          this.solver.warn(`InvalidBaseImagePlatform: ${message} (line ${line})`, 'InvalidBaseImagePlatform');
        if (kept.length > 0 && this.check?.error)
          throw new GantryError(
            'DOCKERFILE_CHECK_FAILED',
            `build check failed, InvalidBaseImagePlatform: ${message} (line ${line})`,
            {
              phase: 'build',
              suggestion: 'fix it, or skip the rule with # check=skip=InvalidBaseImagePlatform',
            },
          );
      }
      return {
        image,
        key: cacheKey(['image', await image.digest(o)]),
        layers: await image.layers(o),
        config,
        args: new Map(),
      };
    } catch (err) {
      throw baseError(err, `FROM ${name}`);
    }
  }

  async #dispatch(
    state: StageState,
    raw: StageInstruction | Instruction,
    stage: Stage,
    noCache: boolean,
    prefix = '',
  ): Promise<void> {
    if (raw.kind === 'from')
      throw fail('ONBUILD_FROM', 'FROM cannot be an ONBUILD trigger', 'remove it from the base image');
    const label = `[${this.#stageLabel(stage)}] ${prefix}${raw.original}`;
    const instr = expandInstruction(raw, lookup(state), { escape: this.escape }) as StageInstruction;
    const d: Dispatch = { build: this, state, stage, label, noCache };
    switch (instr.kind) {
      case 'arg':
        return arg(d, instr);
      case 'workdir':
        return workdir(d, instr);
      case 'user':
        return user(d, instr);
      case 'onbuild':
        return onbuild(d, instr);
      case 'run':
        return run(d, instr);
      case 'copy':
      case 'add':
        return copy(d, instr);
      default:
        return metadata(d, instr);
    }
  }

  /** The layers and key of `--from=NAME`: an earlier stage, else an image. */
  async fromSource(
    from: string,
    stage: Stage,
    platform: Platform,
  ): Promise<{ layers: readonly Layer[]; fromKey: string }> {
    const idx = this.#stageIndex(from);
    if (idx !== undefined) {
      if (idx >= stage.index)
        throw fail(
          'COPY_FROM_LATER_STAGE',
          `COPY --from=${from} names a stage that is not before this one`,
          'reorder the stages',
        );
      const src = await this.#stage(idx);
      return { layers: src.layers, fromKey: src.key };
    }
    let image: Image;
    try {
      const named = this.#named(from);
      image = named
        ? await this.#namedImage(named, `--from=${from}`, platform)
        : await this.solver.image(from, platform);
    } catch (err) {
      // BuildKit reads an unknown --from name as an image; say both, and near-miss stages.
      const names = this.#stages.map((s) => s.name).filter((n): n is string => n !== undefined);
      const near = closest(from.toLowerCase(), names);
      throw baseError(
        err,
        `COPY --from=${from}: no stage is named ${JSON.stringify(from)}, and as an image`,
        near
          ? `did you mean --from=${near}?`
          : names.length > 0
            ? `stages: ${names.join(', ')}; or give an image that exists`
            : 'name a stage with FROM ... AS NAME, or give an image that exists',
      );
    }
    return {
      layers: await image.layers({ signal: this.options.signal }),
      fromKey: cacheKey(['image', await image.digest({ signal: this.options.signal })]),
    };
  }
}
