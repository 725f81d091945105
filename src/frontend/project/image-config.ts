/**
 * The image config of a project build on top of its base, merged as a Dockerfile would: the
 * base's Env kept with the project's values winning key by key, WorkingDir, User, Labels and
 * ExposedPorts added to, Entrypoint and Cmd in exec form only (distroless and shell-less bases
 * work; signals reach the app as PID 1). A non-root user unless the project asks otherwise.
 */
import { applyConfig } from '../../engine/config.js';
import { GantryError } from '../../errors.js';
import type { ImageConfig } from '../../oci/types.js';

/** The user a project image runs as by default: uid/gid 65532, distroless's `nonroot`. */
export const DEFAULT_USER = '65532:65532';

export interface ProjectImageSettings {
  /** In the order they apply: later values win for the same key. */
  readonly env: Readonly<Record<string, string>>;
  readonly workdir: string;
  readonly user: string;
  readonly labels: Readonly<Record<string, string>>;
  /** `PORT[/PROTO]`. */
  readonly ports: readonly string[];
  readonly entrypoint: readonly string[];
  readonly cmd?: readonly string[];
  /** RFC 3339 `created`, from the source epoch. */
  readonly created: string;
}

/** Refuses anything but a non-empty argv (exec form). */
export function execForm(value: readonly string[] | undefined, what: string): readonly string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.length === 0 || value.some((w) => typeof w !== 'string' || w === '')) {
    throw new GantryError('INVALID_ENTRYPOINT', `${what} must be a non-empty list of words (exec form)`, {
      phase: 'config',
      suggestion: 'give it as a JSON array, e.g. ["python", "-m", "app"]; gantry never wraps it in /bin/sh -c',
    });
  }
  return value;
}

/** The final config (pure): the base's, with the project's settings merged in. */
export function projectImageConfig(base: ImageConfig, s: ProjectImageSettings): ImageConfig {
  const merged = applyConfig(base, {
    env: Object.entries(s.env).map(([k, val]) => `${k}=${val}`),
    workdir: s.workdir,
    user: s.user,
    labels: s.labels,
    expose: s.ports,
    entrypoint: s.entrypoint,
    ...(s.cmd ? { cmd: s.cmd } : {}),
  });
  return { ...merged, created: s.created };
}
