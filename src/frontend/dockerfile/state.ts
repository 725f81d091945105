/**
 * The state a stage carries from step to step (the image config being built, the layers so far,
 * history, the cache key chain, ARGs in scope, the SHELL), what every instruction's converter
 * sees (`Dispatch`), and the two ways an instruction moves the stage on: a step for the solver,
 * or a config change chained into the key.
 */
import type { Stage } from '../../dockerfile/index.js';
import { DEFAULT_PATH } from '../../engine/config.js';
import type { FileHashCache, IgnoreMatcher } from '../../engine/context/index.js';
import { Solver, type StepSpec } from '../../engine/solver/solver.js';
import type { Layer } from '../../oci/image.js';
import type { ContainerConfig, History, ImageConfig, Platform } from '../../oci/types.js';
import type { DockerfileBuildOptions } from './options.js';

export type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export interface StageState {
  readonly platform: Platform;
  config: ImageConfig;
  layers: Layer[];
  history: History[];
  key: string;
  /** ARGs declared in this stage, with their values (undefined: declared, no value). */
  args: Map<string, string | undefined>;
  /** Whether CMD was set in this stage (ENTRYPOINT then keeps it). */
  cmdSet: boolean;
}

/** Build args that every RUN sees without an ARG and that never enter history (BuildKit's list). */
export const PROXY_ARGS = new Set([
  'HTTP_PROXY',
  'http_proxy',
  'HTTPS_PROXY',
  'https_proxy',
  'FTP_PROXY',
  'ftp_proxy',
  'NO_PROXY',
  'no_proxy',
  'ALL_PROXY',
  'all_proxy',
]);

export function containerConfig(state: StageState): ContainerConfig {
  return state.config.config ?? {};
}

export function editConfig(state: StageState, edit: (c: Mutable<ContainerConfig>) => void): void {
  const c: Mutable<ContainerConfig> = { ...containerConfig(state) };
  edit(c);
  state.config = { ...state.config, config: c };
}

export function envOf(state: StageState): string[] {
  return [...(containerConfig(state).Env ?? [])];
}

/** Looks a name up as a Dockerfile expansion does: ENV first, then ARGs in scope. */
export function lookup(state: StageState): (name: string) => string | undefined {
  const env = new Map<string, string>();
  for (const [k, v] of state.args) if (v !== undefined) env.set(k, v);
  for (const pair of envOf(state)) {
    const eq = pair.indexOf('=');
    if (eq > 0) env.set(pair.slice(0, eq), pair.slice(eq + 1));
  }
  return (name) => env.get(name);
}

/** Env for a RUN: ENV, plus ARG values not shadowed by ENV, plus proxy build args. */
export function runEnv(state: StageState, buildArgs: Readonly<Record<string, string>>): string[] {
  const env = envOf(state);
  const has = new Set(env.map((e) => e.slice(0, Math.max(0, e.indexOf('=')))));
  for (const [k, v] of state.args) {
    if (v !== undefined && !has.has(k)) {
      env.push(`${k}=${v}`);
      has.add(k);
    }
  }
  for (const [k, v] of Object.entries(buildArgs)) {
    if (PROXY_ARGS.has(k) && !has.has(k)) env.push(`${k}=${v}`);
  }
  return env;
}

/**
 * The ARGs declared in this stage (and in the stage it is based on), with their values, as
 * BuildKit lists them before a RUN's command in history (`|2 A=1 B=2`): every declared ARG, a
 * value shadowed by ENV shown as ENV has it, an ARG without a value as `K=`. Proxy args that were
 * only given as --build-arg are not declared, so they never reach history.
 */
export function historyArgs(state: StageState): [string, string][] {
  const get = lookup(state);
  return [...state.args.keys()].map((k) => [k, get(k) ?? '']);
}

export function withDefaultPath(cfg: ImageConfig): ImageConfig {
  const c = cfg.config ?? {};
  if ((c.Env ?? []).some((e) => e.startsWith('PATH='))) return cfg;
  // BuildKit appends the default PATH after what the base image sets.
  return { ...cfg, config: { ...c, Env: [...(c.Env ?? []), DEFAULT_PATH] } };
}

export function shellOf(state: StageState): string[] {
  return [...(containerConfig(state).Shell ?? ['/bin/sh', '-c'])];
}

/** One platform's build, as the instruction converters see it. */
export interface BuildScope {
  readonly options: DockerfileBuildOptions;
  readonly solver: Solver;
  /** The build context directory. */
  readonly context: string;
  readonly ignore: IgnoreMatcher;
  readonly hashes: FileHashCache;
  readonly escape: '\\' | '`';
  readonly buildArgs: Readonly<Record<string, string>>;
  /** The global ARG scope: predefined platform args, then ARGs before the first FROM. */
  readonly global: ReadonlyMap<string, string | undefined>;
  /** The `created` time of history entries. */
  readonly created: string;
  /** The layers and key of `--from=NAME` (COPY, RUN --mount): an earlier stage, else an image. */
  fromSource(from: string, stage: Stage, platform: Platform): Promise<{ layers: readonly Layer[]; fromKey: string }>;
  /** The directory of a named context (`--build-context NAME=DIR`) called `name`, if any. */
  namedDir(name: string): string | undefined;
}

/** One instruction being converted, in its stage. */
export interface Dispatch {
  readonly build: BuildScope;
  readonly state: StageState;
  readonly stage: Stage;
  /** The name progress shows: `[stage] INSTRUCTION as written`. */
  readonly label: string;
  readonly noCache: boolean;
}

export function addHistory(d: Dispatch, createdBy: string, emptyLayer: boolean): void {
  d.state.history.push({
    created: d.build.created,
    created_by: createdBy,
    comment: 'buildkit.dockerfile.v0',
    ...(emptyLayer ? { empty_layer: true } : {}),
  });
}

/** A config change: no layer, but every key after it changes. */
export function chainMeta(state: StageState, text: string): void {
  state.key = Solver.chain(state.key, 'meta', text);
}

/** Hands a step to the solver and moves the stage on by what it gave: its layer and key. */
export async function solveStep(d: Dispatch, spec: Omit<StepSpec, 'parent' | 'noCache' | 'name'>): Promise<boolean> {
  const r = await d.build.solver.step({ ...spec, parent: d.state.key, noCache: d.noCache, name: d.label });
  if (r.layer) d.state.layers.push(r.layer);
  d.state.key = r.chain;
  return r.layer !== undefined;
}
