/**
 * The base image of a project build: `--from`, else the environment (`GANTRY_PYTHON_BASE`,
 * `GANTRY_NODE_BASE`), else the project configuration, else the official image for the runtime
 * version the project asks for (`python:3.11-slim`, `node:20-slim`). A short name like
 * `python:3.11-slim` is docker.io/library/python, so registries.toml mirrors of docker.io apply
 * to it as to any pull; only its manifest and config are read unless a step needs its files.
 */
import type { ProjectKind } from './detect.js';

export interface BaseChoice {
  readonly ref: string;
  readonly why: string;
}

export interface BaseInputs {
  readonly kind: ProjectKind;
  /** `--from`. */
  readonly flag?: string;
  /** `base` from the project configuration, with the file it came from. */
  readonly config?: { readonly base?: string; readonly source?: string };
  /** The runtime version (`3.11`, `20`) and why it was chosen. */
  readonly version: { readonly value: string; readonly why: string };
  readonly env?: NodeJS.ProcessEnv;
}

/** The environment variable that overrides a kind's default base. */
export function baseEnvName(kind: ProjectKind): string {
  return `GANTRY_${kind.toUpperCase()}_BASE`;
}

/** The official slim image for a runtime version. */
export function defaultBaseFor(kind: ProjectKind, version: string): string {
  return `${kind}:${version}-slim`;
}

export function chooseBase(inputs: BaseInputs): BaseChoice {
  if (inputs.flag) return { ref: inputs.flag, why: '--from' };
  const envName = baseEnvName(inputs.kind);
  const fromEnv = (inputs.env ?? process.env)[envName];
  if (fromEnv) return { ref: fromEnv, why: `$${envName}` };
  if (inputs.config?.base)
    return { ref: inputs.config.base, why: `base in ${inputs.config.source ?? 'the configuration'}` };
  return {
    ref: defaultBaseFor(inputs.kind, inputs.version.value),
    why: `the default for ${inputs.kind} ${inputs.version.value} (${inputs.version.why})`,
  };
}
