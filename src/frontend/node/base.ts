/**
 * What a Node.js base can do for the build: an official-style node image (NODE_VERSION in its
 * Env) has node and npm on PATH and runs the install itself. Any other base is looked into once
 * (its layers are extracted into the store's layer cache anyway for a step): a base without npm
 * (distroless, or a shell-less image with only the node binary) gets its dependencies installed
 * and its build script run in the tools image (the `node:<major>-slim` the project's Node
 * version names), and only the results are copied onto it; the entrypoint names the base's node
 * by its absolute path when node is not on the base's PATH (distroless keeps it in /nodejs/bin).
 */
import { existsSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';
import type { Filesystems } from '../../engine/solver/rootfs.js';
import { GantryError, type IoOptions } from '../../errors.js';
import type { Layer } from '../../oci/image.js';
import type { ImageConfig } from '../../oci/types.js';

export interface BaseTools {
  /** npm is on the base: installs and builds run on it. */
  readonly npm: boolean;
  /** How the entrypoint names node on this base: `node` (on PATH) or an absolute path. */
  readonly node: string;
}

/** Where distroless and other minimal images keep node when it is not on PATH. */
const NODE_PLACES = ['/nodejs/bin/node', '/usr/local/bin/node', '/usr/bin/node'];

function pathDirs(env: readonly string[]): string[] {
  const path = env.find((e) => e.startsWith('PATH='))?.slice(5) ?? '/usr/local/bin:/usr/bin:/bin';
  return path.split(':').filter((d) => d.startsWith('/'));
}

/** True for an executable file (or a link to one) at `abs` inside `root`; links resolve on the host view, good enough for a probe. */
function executable(root: string, abs: string): boolean {
  const at = join(root, abs);
  if (!existsSync(at)) {
    // An absolute link (/usr/bin/node -> /opt/node/bin/node) points outside the snapshot on the host view.
    return false;
  }
  try {
    return (statSync(at).mode & 0o111) !== 0;
  } catch {
    return false;
  }
}

/** Looks into `layers` (the base) for npm and node. */
export async function probeBase(
  fs: Filesystems,
  layers: readonly Layer[],
  cfg: ImageConfig,
  ref: string,
  io: IoOptions,
): Promise<BaseTools> {
  const env = cfg.config?.Env ?? [];
  if (env.some((e) => e.startsWith('NODE_VERSION='))) return { npm: true, node: 'node' };
  const dirs = pathDirs(env);
  return fs.with(
    layers,
    async (snapshot) => {
      const onPath = (name: string) => dirs.some((d) => executable(snapshot.root, posix.join(d, name)));
      const npm = onPath('npm');
      if (onPath('node')) return { npm, node: 'node' };
      const entry = cfg.config?.Entrypoint?.[0];
      const candidates = [
        ...(entry && posix.isAbsolute(entry) && /^node(js)?$/.test(posix.basename(entry)) ? [entry] : []),
        ...NODE_PLACES,
      ];
      const found = candidates.find((c) => executable(snapshot.root, c));
      if (!found)
        throw new GantryError(
          'NODE_BASE_NO_NODE',
          `the base ${ref} has no node binary (not on PATH, not in /nodejs/bin)`,
          {
            phase: 'build',
            suggestion: 'build from a Node.js base (node:<major>-slim or gcr.io/distroless/nodejs<major>), with --from',
          },
        );
      return { npm, node: found };
    },
    io,
  );
}
