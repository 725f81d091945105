/** `gantry build --check`: the Dockerfile's build checks (BuildKit's rules), without building. */
import { join } from 'node:path';
import type { Warning } from '../dockerfile/index.js';

export interface CheckDockerfileOptions {
  /** The build context (for .dockerignore). */
  readonly context: string;
  /** The Dockerfile; default CONTEXT/Dockerfile. */
  readonly dockerfile?: string;
  readonly signal?: AbortSignal;
}

export interface CheckDockerfileOutcome {
  /** Every finding, in line order: `code` is BuildKit's rule name. */
  readonly warnings: readonly Warning[];
  /** The Dockerfile says `# check=error=true`: a build with these findings fails. */
  readonly error: boolean;
}

/** Runs the build checks on a Dockerfile, as `docker build --check` does; nothing is built. */
export async function checkDockerfile(options: CheckDockerfileOptions): Promise<CheckDockerfileOutcome> {
  // Loaded on use: the Dockerfile front end is no fixed cost of every build (see api/build.ts).
  const { checkDockerfile: check } = await import('../frontend/dockerfile/index.js');
  return check({
    context: options.context,
    dockerfile: options.dockerfile ?? join(options.context, 'Dockerfile'),
    ...(options.signal ? { signal: options.signal } : {}),
  });
}
