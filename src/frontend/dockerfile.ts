/**
 * Dockerfile builds: stages form a graph, only what the target needs is built, independent
 * stages run at once (RUN steps bounded by the cores), and every step has a cache key computed
 * before it runs from its parent's key, the expanded instruction, the build args it sees and the
 * digests of the files it reads. Base images are resolved lazily: their layers are read only
 * when a step needs the files.
 */

import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { posix, resolve } from 'node:path';
import { closest } from '../dockerfile/flags.js';
import {
  type AddInstruction,
  type ArgInstruction,
  type CopyInstruction,
  expandInstruction,
  type Instruction,
  parse,
  parseInstruction,
  parseInstructions,
  planRun,
  type Stage,
  type StageInstruction,
} from '../dockerfile/index.js';
import { absoluteWorkdir, normalizePort } from '../engine/config.js';
import {
  type CopyPlan,
  checksumSources,
  copyEntries,
  FileHashCache,
  type IgnoreMatcher,
  loadIgnore,
  type PlacedCopy,
  placeInRoot,
} from '../engine/context/index.js';
import { type BindMount, type Isolation, resolveInRoot } from '../engine/executor/index.js';
import { copyHistory, goList, goQuotedList, healthcheckHistory, runHistory } from '../engine/solver/history.js';
import { cacheKey } from '../engine/solver/keys.js';
import {
  cacheMountDir,
  type MountSpec,
  mountKey,
  parseMount,
  type SecretSource,
  scratchMount,
  secretMount,
} from '../engine/solver/mounts.js';
import { Solver, type StepSpec } from '../engine/solver/solver.js';
import {
  containerConfig,
  editConfig,
  historyArgs,
  lookup,
  runEnv,
  type StageState,
  shellOf,
  withDefaultPath,
} from '../engine/solver/state.js';
import {
  type CopyOptions,
  type CopySource,
  copyStep,
  fetchRemote,
  planFrom,
  resolveChown,
  runStep,
  type StepLayer,
  workdirStep,
  writeEntries,
} from '../engine/solver/steps.js';
import { GantryError, type IoOptions } from '../errors.js';
import type { Image, ImageIndex, Layer } from '../oci/image.js';
import { defaultCreated, newImage, newIndex } from '../oci/mutate.js';
import { formatPlatform, hostPlatform, parsePlatform } from '../oci/platform.js';
import type { ImageConfig, Platform } from '../oci/types.js';
import type { RegistryClient } from '../registry/client/client.js';
import type { Store } from '../store/store.js';
import type { ProgressSink } from '../util/progress.js';

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
}

export interface DockerfileBuildResult {
  readonly item: Image | ImageIndex;
  readonly platforms: readonly Platform[];
}

/** What a stage starts from. */
interface BaseState {
  readonly image?: Image;
  readonly key: string;
  readonly layers: readonly Layer[];
  readonly config: ImageConfig;
  readonly args: ReadonlyMap<string, string | undefined>;
}

interface StageResult {
  readonly image: Image;
  readonly layers: readonly Layer[];
  readonly key: string;
  readonly config: ImageConfig;
  /** ARGs in scope at the end of the stage: a stage built on this one starts with them, as in BuildKit. */
  readonly args: ReadonlyMap<string, string | undefined>;
}

function fail(code: string, message: string, suggestion: string): GantryError {
  return new GantryError(code, message, { phase: 'build', suggestion });
}

function platformArgs(prefix: 'BUILD' | 'TARGET', p: Platform): [string, string][] {
  return [
    [`${prefix}PLATFORM`, formatPlatform(p)],
    [`${prefix}OS`, p.os],
    [`${prefix}ARCH`, p.architecture],
    [`${prefix}VARIANT`, p.variant ?? ''],
  ];
}

/** Runs one Dockerfile build for every requested platform. */
export async function buildDockerfile(options: DockerfileBuildOptions): Promise<DockerfileBuildResult> {
  const context = resolve(options.context);
  const dockerfile = resolve(options.dockerfile ?? posix.join(context, 'Dockerfile'));
  const text = await readFile(dockerfile, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw fail(
      'DOCKERFILE_NOT_FOUND',
      `cannot read Dockerfile ${dockerfile}: ${err.code ?? err.message}`,
      'give its path with -f',
    );
  });
  const parsed = parse(text, { file: options.dockerfile ?? 'Dockerfile' });
  const instructions = parseInstructions(parsed, { file: options.dockerfile ?? 'Dockerfile' });
  const platforms = options.platforms && options.platforms.length > 0 ? options.platforms : [hostPlatform()];
  const solver = new Solver({
    store: options.store,
    ...(options.progress ? { progress: options.progress } : {}),
    ...(options.client ? { client: options.client } : {}),
    ...(options.isolation ? { isolation: options.isolation } : {}),
    ...(options.snapshotter ? { snapshotter: options.snapshotter } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  for (const w of [...parsed.warnings, ...instructions.warnings].sort((a, b) => a.line - b.line))
    solver.warn(`${w.code}: ${w.message} (line ${w.line})`, w.code);
  const shared = {
    solver,
    hashes: await FileHashCache.open(posix.join(options.store.dir, 'cache', 'context'), options),
    ignore: await loadIgnore(context, dockerfile, options),
    escape: parsed.directives.escape,
  };
  try {
    // Every platform at once: the solver runs a step that two platforms share (same key) once.
    const settled = await Promise.allSettled(
      platforms.map(async (platform) => {
        const build = new PlatformBuild(
          options,
          instructions.stages,
          instructions.globalArgs,
          platform,
          context,
          shared,
        );
        return { image: await build.run(), platform };
      }),
    );
    const images: { image: Image; platform: Platform }[] = [];
    for (const r of settled) {
      if (r.status === 'rejected') throw r.reason;
      images.push(r.value);
    }
    const first = images[0] as { image: Image };
    const item =
      images.length === 1
        ? first.image
        : await newIndex(images, { signal: options.signal, mediaType: options.mediaType ?? 'oci' });
    return { item, platforms };
  } finally {
    await shared.hashes.save(options).catch(() => {});
  }
}

interface Shared {
  readonly solver: Solver;
  readonly hashes: FileHashCache;
  readonly ignore: IgnoreMatcher;
  readonly escape: '\\' | '`';
}

class PlatformBuild {
  readonly #o: DockerfileBuildOptions;
  readonly #stages: readonly Stage[];
  readonly #globalArgs: readonly ArgInstruction[];
  readonly #platform: Platform;
  readonly #context: string;
  readonly #shared: Shared;
  readonly #results = new Map<number, Promise<StageResult>>();
  readonly #buildArgs: Readonly<Record<string, string>>;
  readonly #global = new Map<string, string | undefined>();
  readonly #created = defaultCreated();

  constructor(
    o: DockerfileBuildOptions,
    stages: readonly Stage[],
    globalArgs: readonly ArgInstruction[],
    platform: Platform,
    context: string,
    shared: Shared,
  ) {
    this.#o = o;
    this.#stages = stages;
    this.#globalArgs = globalArgs;
    this.#platform = platform;
    this.#context = context;
    this.#shared = shared;
    this.#buildArgs = o.buildArgs ?? {};
  }

  get #step() {
    return this.#shared.solver.context;
  }

  /** The global scope: predefined platform args, then ARGs before FROM with build-arg overrides. */
  #initGlobals(): void {
    for (const [k, v] of [...platformArgs('BUILD', hostPlatform()), ...platformArgs('TARGET', this.#platform)])
      this.#global.set(k, v);
    for (const raw of this.#globalArgs) {
      // Defaults keep their quotes until expanded, against the global ARGs before them.
      const instr = expandInstruction(raw, (n) => this.#global.get(n), { escape: this.#shared.escape });
      for (const def of instr.args) {
        const given = this.#buildArgs[def.name];
        this.#global.set(def.name, given ?? def.default);
      }
    }
  }

  #stageIndex(nameOrIndex: string): number | undefined {
    const lower = nameOrIndex.toLowerCase();
    const byName = this.#stages.find((s) => s.name === lower);
    if (byName) return byName.index;
    if (/^\d+$/.test(nameOrIndex)) {
      const i = Number(nameOrIndex);
      if (i < this.#stages.length) return i;
    }
    return undefined;
  }

  /** The stages the target needs, through FROM and COPY --from. */
  #needed(target: number): number[] {
    const seen = new Set<number>();
    const visit = (i: number) => {
      if (seen.has(i)) return;
      seen.add(i);
      const stage = this.#stages[i] as Stage;
      const base = this.#expandGlobal(stage.from.image);
      const b = this.#stageIndex(base);
      if (b !== undefined && b < i) visit(b);
      for (const instr of stage.instructions) {
        if (instr.kind === 'copy' && instr.from !== undefined) {
          const s = this.#stageIndex(instr.from);
          if (s !== undefined && s < i) visit(s);
        }
        if (instr.kind === 'run') {
          for (const m of instr.mounts) {
            const from = m.fields.find((f) => f.key === 'from')?.value;
            const s = from === undefined ? undefined : this.#stageIndex(from);
            if (s !== undefined && s < i) visit(s);
          }
        }
      }
    };
    visit(target);
    return [...seen].sort((a, b) => a - b);
  }

  #expandGlobal(word: string): string {
    const expanded = expandInstruction(
      { kind: 'from', image: word, line: 0, endLine: 0, original: word },
      (n) => this.#global.get(n),
      { escape: this.#shared.escape },
    );
    return expanded.image;
  }

  async run(): Promise<Image> {
    this.#initGlobals();
    let target = this.#stages.length - 1;
    if (this.#o.target !== undefined) {
      const t = this.#stageIndex(this.#o.target);
      if (t === undefined) {
        const names = this.#stages.map((s) => s.name).filter(Boolean);
        throw fail(
          'UNKNOWN_TARGET',
          `target stage ${JSON.stringify(this.#o.target)} not found`,
          names.length > 0 ? `stages: ${names.join(', ')}` : 'name a stage with FROM ... AS NAME',
        );
      }
      target = t;
    }
    // Start every needed stage now, so that independent ones overlap.
    const needed = this.#needed(target);
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
    return (this.#o.platforms?.length ?? 0) > 1 ? `${formatPlatform(this.#platform)} ${name}` : name;
  }

  async #runStage(stage: Stage): Promise<StageResult> {
    const o = { signal: this.#o.signal };
    const fromExpanded = expandInstruction(stage.from, (n) => this.#global.get(n), { escape: this.#shared.escape });
    const platform = fromExpanded.platform ? parsePlatform(fromExpanded.platform) : this.#platform;
    const baseName = fromExpanded.image;
    const baseStage = this.#stageIndex(baseName);
    const fromStage = baseStage !== undefined && baseStage < stage.index;
    const base = await this.#shared.solver.source(
      fromStage
        ? ['stage', formatPlatform(this.#platform), String(baseStage)]
        : ['image', baseName, formatPlatform(platform)],
      `[${this.#stageLabel(stage)}] FROM ${baseName}`,
      () => this.#base(baseName, fromStage ? baseStage : undefined, platform),
    );
    const { image: baseImage, key: baseKey, layers: baseLayers, config: baseConfig, args: inherited } = base;
    const state: StageState = {
      platform,
      config: withDefaultPath(baseConfig),
      layers: [...baseLayers],
      history: [...(baseConfig.history ?? [])],
      key: baseKey,
      args: new Map(inherited),
      cmdSet: false,
    };
    const noCache =
      this.#o.noCache === true || (stage.name !== undefined && (this.#o.noCacheFilter ?? []).includes(stage.name));
    // ONBUILD triggers of the base run first, then are cleared.
    const triggers = containerConfig(state).OnBuild ?? [];
    if (triggers.length > 0) editConfig(state, (c) => delete c.OnBuild);
    for (const trigger of triggers) {
      const nodes = parse(trigger).ast;
      for (const node of nodes)
        await this.#dispatch(state, parseInstruction(node) as StageInstruction, stage, noCache, 'ONBUILD ');
    }
    for (const instr of stage.instructions) await this.#dispatch(state, instr, stage, noCache);
    const isTarget =
      this.#o.target === undefined
        ? stage.index === this.#stages.length - 1
        : this.#stageIndex(this.#o.target) === stage.index;
    if (isTarget && this.#o.labels && Object.keys(this.#o.labels).length > 0) {
      const labels = this.#o.labels;
      editConfig(state, (c) => {
        c.Labels = { ...(c.Labels ?? {}), ...labels };
      });
    }
    const added = state.layers.slice(baseLayers.length);
    const finalConfig = state.config;
    const history = state.history;
    const image = await newImage(
      {
        ...(baseImage ? { base: baseImage } : { platform }),
        layers: added.map((layer) => ({ layer })),
        config: (cfg) => ({ ...finalConfig, rootfs: cfg.rootfs, history }),
        mediaType: this.#o.mediaType ?? 'oci',
      },
      o,
    );
    return { image, layers: state.layers, key: state.key, config: await image.configFile(o), args: state.args };
  }

  /** What a stage starts from: scratch, an earlier stage, or an image. */
  async #base(name: string, stageIndex: number | undefined, platform: Platform): Promise<BaseState> {
    const o = { signal: this.#o.signal };
    if (name.toLowerCase() === 'scratch') {
      return {
        key: cacheKey(['scratch', formatPlatform(platform)]),
        layers: [],
        config: {
          architecture: platform.architecture,
          os: platform.os,
          ...(platform.variant ? { variant: platform.variant } : {}),
          rootfs: { type: 'layers', diff_ids: [] },
          config: {},
        },
        args: new Map(),
      };
    }
    if (stageIndex !== undefined) {
      const base = await this.#stage(stageIndex);
      return { image: base.image, key: base.key, layers: base.layers, config: base.config, args: base.args };
    }
    try {
      const image = await this.#shared.solver.image(name, platform);
      return {
        image,
        key: cacheKey(['image', await image.digest(o)]),
        layers: await image.layers(o),
        config: await image.configFile(o),
        args: new Map(),
      };
    } catch (err) {
      throw this.#baseError(err, `FROM ${name}`);
    }
  }

  /** A base (FROM, COPY --from) that could not be resolved: the same error, naming what asked for it. */
  #baseError(err: unknown, what: string, suggestion?: string): GantryError {
    if (!GantryError.is(err)) return fail('BASE_RESOLVE_FAILED', `${what}: ${String(err)}`, 'check the image name');
    return new GantryError(err.code, `${what}: ${err.message}`, {
      phase: err.phase,
      suggestion: suggestion ?? err.suggestion ?? 'check the image name',
      cause: err,
    });
  }

  #history(state: StageState, createdBy: string, emptyLayer: boolean): void {
    state.history.push({
      created: this.#created,
      created_by: createdBy,
      comment: 'buildkit.dockerfile.v0',
      ...(emptyLayer ? { empty_layer: true } : {}),
    });
  }

  /** Hands a step to the solver and moves the stage on by what it gave: its layer and key. */
  async #cached(state: StageState, spec: Omit<StepSpec, 'parent' | 'noCache'>, noCache: boolean): Promise<boolean> {
    const r = await this.#shared.solver.step({ ...spec, parent: state.key, noCache });
    if (r.layer) state.layers.push(r.layer);
    state.key = r.chain;
    return r.layer !== undefined;
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
    const used = new Set<string>();
    const instr = expandInstruction(raw, lookup(state), { escape: this.#shared.escape, used }) as StageInstruction;
    const chainMeta = (text: string) => {
      state.key = cacheKey([state.key, 'meta', text]);
    };
    switch (instr.kind) {
      case 'arg': {
        const shown: string[] = [];
        for (const def of instr.args) {
          const value = this.#buildArgs[def.name] ?? def.default ?? this.#global.get(def.name);
          state.args.set(def.name, value);
          shown.push(value === undefined ? def.name : `${def.name}=${value}`);
        }
        this.#history(state, `ARG ${shown.join(' ')}`, true);
        chainMeta(`ARG ${[...state.args].map(([k, v]) => `${k}=${v ?? ''}`).join(' ')}`);
        return;
      }
      case 'env': {
        editConfig(state, (c) => {
          const env = [...(c.Env ?? [])];
          for (const { key, value } of instr.pairs) {
            const at = env.findIndex((e) => e.startsWith(`${key}=`));
            if (at === -1) env.push(`${key}=${value}`);
            else env[at] = `${key}=${value}`;
          }
          c.Env = env;
        });
        const text = `ENV ${instr.pairs.map((p) => `${p.key}=${p.value}`).join(' ')}`;
        this.#history(state, text, true);
        chainMeta(text);
        return;
      }
      case 'label': {
        editConfig(state, (c) => {
          const labels = { ...(c.Labels ?? {}) };
          for (const { key, value } of instr.pairs) labels[key] = value;
          c.Labels = labels;
        });
        const text = `LABEL ${instr.pairs.map((p) => `${p.key}=${p.value}`).join(' ')}`;
        this.#history(state, text, true);
        chainMeta(text);
        return;
      }
      case 'workdir':
        return this.#workdir(
          state,
          // An absolute path is kept as written (a trailing / too), as BuildKit and buildah keep it.
          instr.path.startsWith('/')
            ? instr.path
            : absoluteWorkdir(instr.path, containerConfig(state).WorkingDir || '/'),
          label,
          noCache,
        );
      case 'user':
        editConfig(state, (c) => {
          c.User = instr.user;
        });
        this.#history(state, `USER ${instr.user}`, true);
        chainMeta(`USER ${instr.user}`);
        return;
      case 'expose': {
        const list = instr.ports.flatMap((p) => exposedPorts(p));
        editConfig(state, (c) => {
          const ports = { ...(c.ExposedPorts ?? {}) };
          for (const p of list) ports[p] = {};
          c.ExposedPorts = ports;
        });
        this.#history(state, `EXPOSE ${goList(list)}`, true);
        chainMeta(`EXPOSE ${list.join(' ')}`);
        return;
      }
      case 'volume':
        editConfig(state, (c) => {
          const volumes = { ...(c.Volumes ?? {}) };
          for (const v of instr.paths) volumes[v] = {};
          c.Volumes = volumes;
        });
        this.#history(state, `VOLUME ${goList(instr.paths)}`, true);
        chainMeta(`VOLUME ${instr.paths.join(' ')}`);
        return;
      case 'stopsignal':
        editConfig(state, (c) => {
          c.StopSignal = instr.signal;
        });
        this.#history(state, `STOPSIGNAL ${instr.signal}`, true);
        chainMeta(`STOPSIGNAL ${instr.signal}`);
        return;
      case 'healthcheck': {
        const check = instr.check;
        editConfig(state, (c) => {
          if (check.type === 'none') c.Healthcheck = { Test: ['NONE'] };
          else {
            c.Healthcheck = {
              Test: [...check.test],
              ...(check.interval !== undefined ? { Interval: check.interval } : {}),
              ...(check.timeout !== undefined ? { Timeout: check.timeout } : {}),
              ...(check.startPeriod !== undefined ? { StartPeriod: check.startPeriod } : {}),
              ...(check.startInterval !== undefined ? { StartInterval: check.startInterval } : {}),
              ...(check.retries !== undefined ? { Retries: check.retries } : {}),
            };
          }
        });
        this.#history(state, healthcheckHistory(check), true);
        chainMeta(JSON.stringify(check));
        return;
      }
      case 'shell':
        editConfig(state, (c) => {
          c.Shell = [...instr.shell];
        });
        this.#history(state, `SHELL ${goList(instr.shell)}`, true);
        chainMeta(`SHELL ${JSON.stringify(instr.shell)}`);
        return;
      case 'cmd': {
        const cmd = instr.command.kind === 'exec' ? [...instr.command.argv] : [...shellOf(state), instr.command.script];
        editConfig(state, (c) => {
          c.Cmd = cmd;
        });
        state.cmdSet = true;
        this.#history(state, `CMD ${goQuotedList(cmd)}`, true);
        chainMeta(`CMD ${JSON.stringify(cmd)}`);
        return;
      }
      case 'entrypoint': {
        const ep = instr.command.kind === 'exec' ? [...instr.command.argv] : [...shellOf(state), instr.command.script];
        editConfig(state, (c) => {
          c.Entrypoint = ep;
          if (!state.cmdSet) delete c.Cmd;
        });
        this.#history(state, `ENTRYPOINT ${goQuotedList(ep)}`, true);
        chainMeta(`ENTRYPOINT ${JSON.stringify(ep)}`);
        return;
      }
      case 'onbuild':
        editConfig(state, (c) => {
          c.OnBuild = [...(c.OnBuild ?? []), instr.trigger];
        });
        // BuildKit records no history entry for ONBUILD.
        chainMeta(`ONBUILD ${instr.trigger}`);
        return;
      case 'maintainer':
        state.config = { ...state.config, author: instr.maintainer };
        this.#history(state, `MAINTAINER ${instr.maintainer}`, true);
        chainMeta(`MAINTAINER ${instr.maintainer}`);
        return;
      case 'run':
        return this.#run(state, instr, label, noCache, stage);
      case 'copy':
      case 'add':
        return this.#copy(state, instr, label, noCache, stage);
    }
  }

  async #run(
    state: StageState,
    instr: Extract<StageInstruction, { kind: 'run' }>,
    label: string,
    noCache: boolean,
    stage: Stage,
  ): Promise<void> {
    const plan = planRun(instr);
    const specs = instr.mounts.map((m) => parseMount(m.fields, containerConfig(state).WorkingDir || '/', instr.line));
    // Bind mounts read files: their digests are inputs of the step, like a COPY's.
    const mountKeys: string[] = [];
    for (const spec of specs) {
      mountKeys.push(mountKey(spec));
      if (spec.type !== 'bind') continue;
      if (spec.from === undefined) {
        const planned = await planFrom(
          { root: this.#context, ignore: this.#shared.ignore },
          { sources: [spec.source], dest: '/', workdir: '/', exclude: [], parents: false },
          this.#step,
        );
        mountKeys.push(await checksumSources(planned, { cache: this.#shared.hashes, signal: this.#o.signal }));
      } else {
        mountKeys.push((await this.#copySource(spec.from, stage, state.platform)).fromKey);
      }
    }
    const shell = shellOf(state);
    const args =
      plan.kind === 'exec'
        ? [...plan.argv]
        : plan.kind === 'shell'
          ? [...shell, plan.script]
          : [`/dev/pipes/${plan.name}`];
    const env = runEnv(state, this.#buildArgs);
    const c = containerConfig(state);
    const cwd = c.WorkingDir || '/';
    const network = instr.network ?? 'default';
    const inputs = [
      'run',
      JSON.stringify(args),
      plan.kind === 'file' ? plan.content : '',
      JSON.stringify(env),
      c.User ?? '',
      cwd,
      network,
      formatPlatform(state.platform),
      ...mountKeys,
    ];
    // What BuildKit records: the argv, with SHELL in front of a heredoc file too (it runs it so).
    const shown = plan.kind === 'file' ? [...shell, args[0] as string] : args;
    const added = await this.#cached(
      state,
      {
        inputs,
        name: label,
        run: (step) =>
          this.#withMounts(specs, stage, state.platform, (mounts) =>
            runStep(
              state.layers,
              {
                args,
                env,
                cwd,
                ...(c.User ? { user: c.User } : {}),
                network,
                platform: state.platform,
                mounts,
                onOutput: (line) => step.log(line),
              },
              plan.kind === 'file' ? { name: plan.name, content: plan.content } : undefined,
              this.#step,
            ),
          ),
      },
      noCache,
    );
    this.#history(state, runHistory(historyArgs(state), shown), !added);
  }

  async #copy(
    state: StageState,
    instr: CopyInstruction | AddInstruction,
    label: string,
    noCache: boolean,
    stage: Stage,
  ): Promise<void> {
    const workdir = containerConfig(state).WorkingDir || '/';
    const unpack = instr.kind === 'add' && instr.unpack !== false;
    const parents = instr.kind === 'copy' ? instr.parents : false;
    const from = instr.kind === 'copy' ? instr.from : undefined;
    const step = this.#step;
    const link = instr.link;
    const stageLayers = [...state.layers];
    const cleanups: (() => Promise<void>)[] = [];
    let added = false;
    try {
      // Heredoc sources and ADD URLs become files in a temp dir, copied like context files.
      const extraRoots: { root: string; names: string[] }[] = [];
      if (instr.heredocs.length > 0) {
        const dir = await mkdtemp(posix.join(tmpdir(), 'gantry-inline-'));
        cleanups.push(() => rm(dir, { recursive: true, force: true }));
        for (const h of instr.heredocs) await writeFile(posix.join(dir, h.name), h.content, { mode: 0o644 });
        extraRoots.push({ root: dir, names: instr.heredocs.map((h) => h.name) });
      }
      let sources = [...instr.sources];
      if (instr.kind === 'add') {
        const urls = sources.filter((s) => /^https?:\/\//.test(s));
        sources = sources.filter((s) => !/^https?:\/\//.test(s));
        for (const url of urls) {
          const got = await fetchRemote(url, instr.checksum, this.#o.signal);
          cleanups.push(() => rm(got.dir, { recursive: true, force: true }));
          extraRoots.push({ root: got.dir, names: [got.name] });
        }
      }
      const planOptions: CopyOptions = {
        dest: instr.dest,
        workdir,
        ...(instr.chmod ? { chmod: instr.chmod } : {}),
        exclude: instr.exclude,
        parents,
        sources,
        unpack,
      };
      // The key holds --chown as written: a name is resolved (in this stage's /etc/passwd, which
      // the parent key already pins) only when the step really runs, so a hit extracts nothing.
      const optionsKey = JSON.stringify({
        // Sources as written: `ADD dir/` and `ADD dir/a.tar.gz` can read the same entries, but
        // only the latter extracts (issue 15).
        sources: instr.sources,
        link: instr.link,
        dest: instr.dest,
        workdir,
        chown: instr.chown,
        chmod: instr.chmod,
        exclude: instr.exclude,
        parents,
        unpack,
      });
      const plansFrom = async (root: CopySource): Promise<CopyPlan[]> => {
        const plans: CopyPlan[] = [];
        if (sources.length > 0) plans.push(await planFrom(root, planOptions, step));
        for (const extra of extraRoots)
          plans.push(
            await planFrom({ root: extra.root }, { ...planOptions, sources: extra.names, unpack: false }, step),
          );
        return plans;
      };
      const write = async (planned: readonly CopyPlan[]): Promise<StepLayer | undefined> => {
        const chown = await resolveChown(instr.chown, stageLayers, step);
        const emit = async (plans: readonly CopyPlan[], existing?: PlacedCopy['existing']) => {
          const owners = {
            ...(chown ? { chown } : {}),
            // COPY --from keeps the source owners; USER never changes them (issue 15).
            ...(from !== undefined ? { keepOwners: true } : {}),
            ...(existing ? { existing } : {}),
          };
          const opts: CopyOptions = { ...planOptions, ...owners };
          const [only, ...more] = plans;
          if (!only) return undefined;
          if (more.length === 0) return copyStep(only, opts, step);
          // Context files plus heredocs or URLs: one layer of all of them, in order.
          const copyOptions = { ...owners, ...(instr.chmod ? { chmod: instr.chmod } : {}), signal: step.signal };
          async function* all() {
            for (const plan of plans) yield* copyEntries(plan, copyOptions);
          }
          return writeEntries(all(), step);
        };
        // The destination resolves through the stage's symlinks and existing directories keep their
        // owner and mode (issue 15, issue 8); --link leaves the stage's files out, as BuildKit does.
        if (link || stageLayers.length === 0) return emit(planned);
        return step.fs.with(
          stageLayers,
          async (snapshot) => {
            const placed = await placeInRoot(snapshot.root, planned, step);
            return emit(placed.plans, placed.existing);
          },
          step,
        );
      };
      // COPY --link makes a layer that does not depend on the files below it, so its key leaves the
      // steps before it out: changing them reuses the same layer (BuildKit rebases it the same way).
      if (from === undefined) {
        // Context files are keyed by their content digests, read before the step.
        const plans = await plansFrom({ root: this.#context, ignore: this.#shared.ignore });
        const sums: string[] = [];
        for (const plan of plans)
          sums.push(await checksumSources(plan, { cache: this.#shared.hashes, signal: this.#o.signal }));
        const inputs = [instr.kind, optionsKey, 'context', ...sums];
        added = await this.#cached(state, { inputs, detached: link, name: label, run: () => write(plans) }, noCache);
      } else {
        const { layers, fromKey } = await this.#copySource(from, stage, state.platform);
        // A stage's key chains on the results of its steps and an image's on its digest, so the
        // key names the source files exactly: a hit needs no extraction and no checksums.
        const inputs = [
          instr.kind,
          optionsKey,
          'from',
          fromKey,
          JSON.stringify(sources),
          JSON.stringify(instr.heredocs),
        ];
        added = await this.#cached(
          state,
          {
            inputs,
            detached: link,
            name: label,
            run: () =>
              this.#shared.solver.fs.with(layers, async (snapshot) => write(await plansFrom({ root: snapshot.root })), {
                signal: this.#o.signal,
              }),
          },
          noCache,
        );
      }
    } finally {
      for (const c of cleanups) await c();
    }
    this.#history(state, copyHistory(instr), !added);
  }

  /** Prepares every RUN --mount for one run of the step, and takes it all down afterwards. */
  async #withMounts<T>(
    specs: readonly MountSpec[],
    stage: Stage,
    platform: Platform,
    fn: (mounts: BindMount[]) => Promise<T>,
  ): Promise<T> {
    const mounts: BindMount[] = [];
    const cleanups: (() => Promise<void>)[] = [];
    try {
      for (const spec of specs) {
        if (spec.type === 'cache') mounts.push(await cacheMountDir(this.#o.store.dir, spec));
        else if (spec.type === 'tmpfs') {
          const { mount, dir } = await scratchMount(spec);
          cleanups.push(() => rm(dir, { recursive: true, force: true }));
          mounts.push(mount);
        } else if (spec.type === 'secret') {
          const made = await secretMount(spec, this.#o.secrets ?? {});
          if (made) {
            cleanups.push(() => rm(made.dir, { recursive: true, force: true }));
            mounts.push(made.mount);
          }
        } else {
          let root = this.#context;
          if (spec.from !== undefined) {
            const { layers } = await this.#copySource(spec.from, stage, platform);
            const snapshot = await this.#shared.solver.fs.prepare(layers, { signal: this.#o.signal });
            cleanups.push(() => snapshot.release());
            root = snapshot.root;
          }
          // Resolved inside its root: a symlink in the source cannot reach the host.
          const source = posix.join(root, await resolveInRoot(root, spec.source));
          if (!(await stat(source).catch(() => undefined))) {
            throw fail(
              'RUN_MOUNT_SOURCE_NOT_FOUND',
              `RUN --mount source ${spec.source} not found in ${spec.from ?? 'the build context'}`,
              'check the source= path',
            );
          }
          mounts.push({ source, target: spec.target, readonly: true });
        }
      }
      return await fn(mounts);
    } finally {
      for (const c of cleanups.reverse()) await c();
    }
  }

  /** The layers and key of `COPY --from=NAME`: an earlier stage, else an image. */
  async #copySource(
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
      image = await this.#shared.solver.image(from, platform);
    } catch (err) {
      // BuildKit reads an unknown --from name as an image; say both, and near-miss stages.
      const names = this.#stages.map((s) => s.name).filter((n): n is string => n !== undefined);
      const near = closest(from.toLowerCase(), names);
      throw this.#baseError(
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
      layers: await image.layers({ signal: this.#o.signal }),
      fromKey: cacheKey(['image', await image.digest({ signal: this.#o.signal })]),
    };
  }

  /** WORKDIR: the config's working directory, and the directory itself (owned by USER) when missing. */
  async #workdir(state: StageState, dir: string, label: string, noCache: boolean): Promise<void> {
    editConfig(state, (c) => {
      c.WorkingDir = dir;
    });
    let added = false;
    if (dir !== '/') {
      const user = containerConfig(state).User || undefined;
      const inputs = ['workdir', dir, user ?? '', formatPlatform(state.platform)];
      added = await this.#cached(
        state,
        { inputs, name: label, run: () => workdirStep(state.layers, dir, user, this.#step) },
        noCache,
      );
    } else {
      state.key = cacheKey([state.key, 'meta', 'WORKDIR /']);
    }
    this.#history(state, `WORKDIR ${dir}`, !added);
  }
}

/** EXPOSE values as the config stores them: `80/tcp`, a range as one entry per port (BuildKit). */
function exposedPorts(value: string): string[] {
  const normalized = normalizePort(value);
  const m = /^(\d+)-(\d+)\/(\w+)$/.exec(normalized);
  if (!m) return [normalized];
  const [from, to] = [Number(m[1]), Number(m[2])];
  if (to < from) {
    throw fail(
      'INVALID_PORT',
      `invalid port range ${JSON.stringify(value)}`,
      'write the lower port first, e.g. 8000-8010',
    );
  }
  const out: string[] = [];
  for (let p = from; p <= to; p++) out.push(`${p}/${m[3]}`);
  return out;
}
