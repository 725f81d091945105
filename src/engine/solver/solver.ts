/**
 * The solver owns a build's graph. A front end hands it steps, each with the inputs of its cache
 * key, a name for progress and the work to do; the solver keys every step before any work, looks
 * the key up in the build cache, runs what misses within one CPU budget, records what it made,
 * chains the key on what the step produced, runs identical steps once per build (across stages and
 * platforms alike), resolves bases lazily, and emits every progress event. It knows steps, never
 * the syntax of the input they came from.
 */
import { availableParallelism } from 'node:os';
import { GantryError, type IoOptions } from '../../errors.js';
import { type Image, type ImageIndex, isImageIndex, type Layer } from '../../oci/image.js';
import { resolvePlatform } from '../../oci/partial.js';
import { formatPlatform } from '../../oci/platform.js';
import type { Descriptor, Digest, Platform } from '../../oci/types.js';
import { parseReference } from '../../reference/index.js';
import type { RegistryClient } from '../../registry/client/client.js';
import { BuildCache, type ImportedRecord } from '../../store/cache.js';
import type { Store } from '../../store/store.js';
import { limiter } from '../../util/limiter.js';
import { noProgress, type ProgressSink } from '../../util/progress.js';
import { openBase } from '../base.js';
import type { Isolation } from '../executor/index.js';
import { cacheKey } from './keys.js';
import { Filesystems } from './rootfs.js';
import { type LayerFormat, type StepContext, type StepLayer, storedLayer } from './steps.js';

export interface SolverOptions extends IoOptions {
  readonly store: Store;
  readonly progress?: ProgressSink;
  /** Step work running at once (the CPU budget); default the machine's cores. */
  readonly concurrency?: number;
  /** The registry client, for bases that are not in the store. */
  readonly client?: () => Promise<RegistryClient>;
  /** The registries.toml mirrors of a registry, tried in order before it for bases. */
  readonly mirrors?: (registry: string) => Promise<readonly string[]>;
  readonly isolation?: Isolation;
  /** Force a snapshotter (tests); default overlay when it can be mounted. */
  readonly snapshotter?: 'overlay' | 'walk';
  /** Records of imported caches (`--cache-from`), asked after a local miss. */
  readonly imports?: readonly ReadonlyMap<string, ImportedRecord>[];
  /** How new layers are compressed; gzip at its default level when unset. */
  readonly layerFormat?: LayerFormat;
  /** Every step runs again (`--no-cache` of a build without a Dockerfile); results are still recorded. */
  readonly noCache?: boolean;
  /**
   * Registry bases are fetched though the store keeps their manifest and config (`--no-cache`);
   * default `noCache`.
   */
  readonly fresh?: boolean;
}

/** A step this build used (run, or found in a cache), as a cache export writes it. */
export interface UsedRecord {
  readonly key: string;
  readonly layer?: StepLayer;
}

/** What a step's work sees while it runs. */
export interface RunningStep {
  /** The step's progress id. */
  readonly id: string;
  /** A line of the step's output, as a progress event. */
  log(line: string): void;
}

export interface StepSpec {
  /** The chain key of the state the step builds on. */
  readonly parent: string;
  /** What decides the result besides the parent: the step's definition and the digests it reads. */
  readonly inputs: readonly string[];
  /**
   * A step whose layer does not depend on the files below it (COPY --link): its key leaves the
   * parent out, so changing earlier steps reuses its layer; the chain still goes on from `parent`.
   */
  readonly detached?: boolean;
  /** The name progress shows. */
  readonly name: string;
  /** Skip the lookup and run the work (it is still recorded). */
  readonly noCache?: boolean;
  /** The work, run only on a miss: the layer it made, or none when it changed no file. */
  readonly run: (step: RunningStep) => Promise<StepLayer | undefined>;
}

/** A step keyed after its work: see {@link Solver.produce}. */
export interface ProduceSpec {
  readonly parent: string;
  /** Keyed without the parent, as StepSpec.detached. */
  readonly detached?: boolean;
  readonly name: string;
  /** The work: the layer it made (if any) and the key inputs it read on the way. */
  readonly run: (step: RunningStep) => Promise<{ readonly inputs: readonly string[]; readonly layer?: StepLayer }>;
}

export interface StepResult {
  /** The step's own cache key. */
  readonly key: string;
  /** The chain key after the step: what the next step builds on. */
  readonly chain: string;
  /** The layer the step added, if any. */
  readonly layer?: Layer;
  readonly descriptor?: Descriptor;
  readonly diffID?: Digest;
  /** Whether the layer came from the cache. */
  readonly cached: boolean;
}

interface Outcome {
  readonly layer?: StepLayer;
  readonly cached: boolean;
}

/** The first part of a detached step's key (the word keys were first written with). */
const DETACHED = 'link';

/** A short progress id from a key: the same step gets the same id in every build. */
function idOf(prefix: string, key: string): string {
  return `${prefix}-${key.replace(/^sha256:/, '').slice(0, 16)}`;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A base image as a build resolved it: the name it was asked for, and the platform image used. */
export interface ResolvedImage {
  readonly name: string;
  readonly platform: Platform;
  readonly image: Image;
}

export class Solver {
  readonly store: Store;
  readonly fs: Filesystems;
  readonly cache: BuildCache;
  readonly #options: SolverOptions;
  readonly #progress: ProgressSink;
  readonly #limit: <T>(task: () => Promise<T>) => Promise<T>;
  readonly #steps = new Map<string, Promise<Outcome>>();
  readonly #sources = new Map<string, Promise<unknown>>();
  readonly #images = new Map<string, Promise<Image>>();
  readonly #resolved: ResolvedImage[] = [];
  readonly #warned = new Set<string>();
  readonly #used = new Map<string, StepLayer | undefined>();
  #produced = 0;

  constructor(options: SolverOptions) {
    this.#options = options;
    this.store = options.store;
    this.cache = new BuildCache(options.store);
    for (const records of options.imports ?? []) this.cache.import(records);
    this.fs = new Filesystems(options.store, options.snapshotter ? { snapshotter: options.snapshotter } : {});
    this.#progress = options.progress ?? noProgress;
    this.#limit = limiter(Math.max(1, options.concurrency ?? availableParallelism()));
  }

  get signal(): AbortSignal | undefined {
    return this.#options.signal;
  }

  /** What step work needs to touch files: the store, root filesystems, the sandbox choice. */
  get context(): StepContext {
    return {
      store: this.store,
      fs: this.fs,
      ...(this.#options.isolation ? { isolation: this.#options.isolation } : {}),
      ...(this.#options.signal ? { signal: this.#options.signal } : {}),
      ...(this.#options.layerFormat ? { layerFormat: this.#options.layerFormat } : {}),
    };
  }

  /** How new layers are compressed; gzip at its default level when unset. */
  get layerFormat(): LayerFormat | undefined {
    return this.#options.layerFormat;
  }

  /**
   * Where a step's result is recorded: its key, or, for layers in another format than the
   * default, the key and the format, so a zstd build never reuses a gzip layer (or the reverse).
   * Chain keys stay the same: they follow diffIDs, which no compression changes.
   */
  #record(key: string): string {
    const format = this.#options.layerFormat;
    if (format === undefined || (format.compression === 'gzip' && format.level === undefined)) return key;
    return cacheKey([key, 'layer format', format.compression, String(format.level ?? 'default')]);
  }

  /** The key a step will have: computed from its parent and inputs, before any work. */
  static keyOf(spec: Pick<StepSpec, 'parent' | 'inputs' | 'detached'>): string {
    return cacheKey([spec.detached ? DETACHED : spec.parent, ...spec.inputs]);
  }

  /** A chain link that makes no layer (a config change): the next key from the parent and the change. */
  static chain(parent: string, ...parts: readonly string[]): string {
    return cacheKey([parent, ...parts]);
  }

  /**
   * Keys the step, then looks it up, or runs it within the CPU budget and records it. A step
   * whose key was already asked for in this build runs once: every caller gets that result.
   */
  async step(given: StepSpec): Promise<StepResult> {
    const spec = this.#options.noCache && !given.noCache ? { ...given, noCache: true } : given;
    const key = Solver.keyOf(spec);
    const memo = spec.noCache ? `no-cache:${key}` : key;
    let outcome = this.#steps.get(memo);
    if (!outcome) {
      outcome = this.#solve(key, idOf(spec.noCache ? 'step-nc' : 'step', key), spec);
      // Errors surface where the step is awaited; avoid an unhandled rejection meanwhile.
      outcome.catch(() => {});
      this.#steps.set(memo, outcome);
    }
    const { layer, cached } = await outcome;
    const result = layer?.diffID ?? 'no layer';
    // The chain goes on from what the step produced, not only from what it was asked: a step run
    // again (--no-cache) that makes different files changes every key after it.
    const chain = spec.detached ? cacheKey([spec.parent, key, result]) : cacheKey([key, result]);
    return {
      key,
      chain,
      cached,
      ...(layer ? { layer: layer.layer, descriptor: layer.descriptor, diffID: layer.diffID } : {}),
    };
  }

  /**
   * A step whose inputs are only known once its work has read them: a layer written from files
   * whose digests nobody has yet, hashed while they are written, so each is read once. The work
   * runs (within the CPU budget) without a lookup, and its result is recorded under the key its
   * inputs give, where a later build that computes the same inputs up front finds it.
   */
  async produce(spec: ProduceSpec): Promise<StepResult> {
    const id = idOf('step', cacheKey([spec.parent, spec.name, String(this.#produced++)]));
    const io = { signal: this.signal };
    this.#progress({ type: 'start', id, name: spec.name });
    let key: string;
    let made: StepLayer | undefined;
    try {
      const out = await this.#limit(() => spec.run({ id, log: (line) => this.#progress({ type: 'log', id, line }) }));
      made = out.layer;
      key = Solver.keyOf({ parent: spec.parent, inputs: out.inputs, ...(spec.detached ? { detached: true } : {}) });
      await this.cache.put(
        this.#record(key),
        made ? { layer: { descriptor: made.descriptor, diffID: made.diffID } } : {},
        io,
      );
      this.#progress({ type: 'done', id });
    } catch (err) {
      this.#progress({ type: 'error', id, message: messageOf(err) });
      throw err;
    }
    this.#steps.set(key, Promise.resolve(made ? { layer: made, cached: false } : { cached: false }));
    const result = made?.diffID ?? 'no layer';
    const chain = spec.detached ? cacheKey([spec.parent, key, result]) : cacheKey([key, result]);
    return {
      key,
      chain,
      cached: false,
      ...(made ? { layer: made.layer, descriptor: made.descriptor, diffID: made.diffID } : {}),
    };
  }

  async #solve(key: string, id: string, spec: StepSpec): Promise<Outcome> {
    const io = { signal: this.signal };
    const record = this.#record(key);
    this.#progress({ type: 'start', id, name: spec.name });
    try {
      const hit = spec.noCache ? undefined : await this.cache.get(record, io);
      if (hit) {
        this.#progress({ type: 'done', id, cached: true });
        const l = hit.layer;
        const layer = l ? { layer: storedLayer(this.store, l.descriptor, l.diffID), ...l } : undefined;
        this.#used.set(record, layer);
        return layer ? { layer, cached: true } : { cached: true };
      }
      const imported = spec.noCache ? undefined : this.cache.imported(record);
      if (imported) {
        // The layer stays where the cache keeps it until its content is needed. The local record
        // is a hit from the moment the blob is in the store (a fetch puts it there).
        const l = imported.layer;
        await this.cache.put(record, l ? { layer: { descriptor: l.descriptor, diffID: l.diffID } } : {}, io);
        this.#progress({ type: 'done', id, cached: true, detail: 'imported cache' });
        const layer = l ? { layer: l.open, descriptor: l.descriptor, diffID: l.diffID } : undefined;
        this.#used.set(record, layer);
        return layer ? { layer, cached: true } : { cached: true };
      }
      const made = await this.#limit(() => spec.run({ id, log: (line) => this.#progress({ type: 'log', id, line }) }));
      await this.cache.put(record, made ? { layer: { descriptor: made.descriptor, diffID: made.diffID } } : {}, io);
      this.#used.set(record, made);
      this.#progress({ type: 'done', id });
      return made ? { layer: made, cached: false } : { cached: false };
    } catch (err) {
      this.#progress({ type: 'error', id, message: messageOf(err) });
      throw err;
    }
  }

  /**
   * A source of the graph (a base image, scratch, an earlier stage), resolved once per build for
   * the same `inputs` and reported as one step named `name`.
   */
  source<T>(inputs: readonly string[], name: string, resolve: () => Promise<T>): Promise<T> {
    const key = cacheKey(['source', ...inputs]);
    let p = this.#sources.get(key) as Promise<T> | undefined;
    if (!p) {
      const id = idOf('source', key);
      p = (async () => {
        this.#progress({ type: 'start', id, name });
        try {
          const value = await resolve();
          this.#progress({ type: 'done', id });
          return value;
        } catch (err) {
          this.#progress({ type: 'error', id, message: messageOf(err) });
          throw err;
        }
      })();
      p.catch(() => {});
      this.#sources.set(key, p);
    }
    return p;
  }

  /**
   * An image by name for `platform`: the store first, else the registry. Lazy: only the manifest
   * and config are read here; layers are fetched when a step needs the files. Once per build.
   */
  image(name: string, platform: Platform): Promise<Image> {
    const memo = `${name}\u0000${formatPlatform(platform)}`;
    let p = this.#images.get(memo);
    if (!p) {
      p = this.#resolveImage(name, platform);
      p.catch(() => {});
      this.#images.set(memo, p);
    }
    return p;
  }

  async #resolveImage(name: string, platform: Platform): Promise<Image> {
    const o = { signal: this.signal };
    let item: Image | ImageIndex | undefined;
    try {
      const entry = await this.store.resolve(name, o);
      item = await this.store.openDescriptor(entry.descriptor, o);
    } catch (err) {
      if (!(GantryError.is(err) && err.code === 'IMAGE_NOT_FOUND')) throw err;
    }
    if (!item) {
      if (!this.#options.client) {
        throw new GantryError('BASE_NOT_FOUND', `base image ${name} is not in the store`, {
          phase: 'build',
          suggestion: 'pull or load it first',
        });
      }
      const ref = parseReference(name);
      const mirrors = (await this.#options.mirrors?.(ref.registry)) ?? [];
      const fresh = this.#options.fresh ?? this.#options.noCache ?? false;
      item = await openBase(await this.#options.client(), this.store, ref, mirrors, o, fresh);
    }
    const image = isImageIndex(item) ? await resolvePlatform(item, platform, o) : item;
    this.#resolved.push({ name, platform, image });
    return image;
  }

  /** The images FROM names resolved to so far (for provenance and the SBOM's base), in order. */
  resolvedImages(): readonly ResolvedImage[] {
    return [...this.#resolved];
  }

  /** Every step this build used (run, or found in a cache) with its layer: what a cache export writes. */
  usedRecords(): UsedRecord[] {
    return [...this.#used].map(([key, layer]) => (layer ? { key, layer } : { key }));
  }

  /** A warning for the user (a parser or lint finding), reported once per build. */
  warn(message: string, code?: string): void {
    if (this.#warned.has(message)) return;
    this.#warned.add(message);
    this.#progress(code === undefined ? { type: 'warning', message } : { type: 'warning', message, code });
  }
}
