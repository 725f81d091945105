/**
 * The commands the bench times: gantry and buildah building a directory into an OCI layout,
 * and the single-file tools (gzip, sha256sum, Node's zlib and crypto). Each run gets its own
 * temp directory (store, output, buildah storage, TMPDIR) that is removed after it, so no run
 * finds a cache left by another.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GantryError } from '../../src/errors.js';
import type { CommandSpec, Contender } from './measure.js';

/** The repository root; this file runs compiled, from dist/bench/lib/. */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

interface RunDir {
  readonly dir: string;
  readonly out: string;
}

async function runDir(prefix: string): Promise<RunDir> {
  const dir = await mkdtemp(join(tmpdir(), `gantry-bench-${prefix}-`));
  return { dir, out: join(dir, 'out') };
}

interface LayoutFacts {
  readonly bytes: number;
  readonly layerMediaTypes: readonly string[];
}

async function readJson(path: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
}

function blobPath(layout: string, digest: unknown): string {
  if (typeof digest !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(digest)) {
    throw new GantryError('BENCH_BAD_OUTPUT', `bad digest ${String(digest)} in ${layout}`, {
      phase: 'export',
      suggestion: 'the tool wrote an invalid OCI layout; check it with skopeo inspect oci:DIR',
    });
  }
  return join(layout, 'blobs', 'sha256', digest.slice('sha256:'.length));
}

/**
 * Checks that `layout` is an OCI image layout with one image whose layers exist at their
 * declared sizes: a tool that silently wrote nothing must not look fast. Returns the total
 * size of the blobs it references.
 */
export async function inspectLayout(layout: string): Promise<LayoutFacts> {
  const index = await readJson(join(layout, 'index.json'));
  const manifests = index.manifests as { digest?: unknown; size?: unknown }[] | undefined;
  const entry = manifests?.[0];
  if (!entry) {
    throw new GantryError('BENCH_BAD_OUTPUT', `${layout}/index.json lists no manifest`, {
      phase: 'export',
      suggestion: 'the tool wrote an empty OCI layout; run it by hand',
    });
  }
  let bytes = (await stat(blobPath(layout, entry.digest))).size;
  let manifest = await readJson(blobPath(layout, entry.digest));
  // An index (multi-platform output) points at the image manifest one level down.
  if (Array.isArray(manifest.manifests)) {
    const inner = (manifest.manifests as { digest?: unknown }[])[0];
    bytes += (await stat(blobPath(layout, inner?.digest))).size;
    manifest = await readJson(blobPath(layout, inner?.digest));
  }
  const config = manifest.config as { digest?: unknown } | undefined;
  bytes += (await stat(blobPath(layout, config?.digest))).size;
  const layers = (manifest.layers ?? []) as { digest?: unknown; size?: unknown; mediaType?: unknown }[];
  if (layers.length === 0) {
    throw new GantryError('BENCH_BAD_OUTPUT', `the image in ${layout} has no layers`, {
      phase: 'export',
      suggestion: 'the tool built an empty image; run it by hand',
    });
  }
  for (const l of layers) {
    const size = (await stat(blobPath(layout, l.digest))).size;
    if (size !== l.size) {
      throw new GantryError('BENCH_BAD_OUTPUT', `layer ${String(l.digest)} is ${size} bytes, manifest says ${l.size}`, {
        phase: 'export',
        suggestion: 'the tool wrote a corrupt OCI layout; run it by hand',
      });
    }
    bytes += size;
  }
  return { bytes, layerMediaTypes: layers.map((l) => String(l.mediaType)) };
}

function checkGzip(tool: string, facts: LayoutFacts, log: ((line: string) => void) | undefined): void {
  const plain = facts.layerMediaTypes.filter((m) => !m.endsWith('+gzip'));
  if (plain.length > 0) log?.(`  warning: ${tool} wrote layers that are not gzip (${plain.join(', ')}); work differs`);
}

/** The gantry command users run (package.json "bin"). */
export const GANTRY_BIN = join(REPO_ROOT, 'bin', 'gantry');

/**
 * How to start gantry `bin` with `args`: the command itself, or `node FILE` for a bin/gantry.js
 * (a BENCH_BASELINE checkout from before bin/gantry).
 */
export function gantryArgv(bin: string, args: readonly string[]): { file: string; args: string[] } {
  return bin.endsWith('.js') ? { file: process.execPath, args: [bin, ...args] } : { file: bin, args: [...args] };
}

/** `gantry build DIR --output type=oci,dest=OUT,tar=false` with a fresh store per run. */
export function gantryBuild(
  context: string,
  log?: (line: string) => void,
  bin: string = GANTRY_BIN,
  name = 'gantry',
): Contender<RunDir> {
  return {
    name,
    async prepare() {
      const state = await runDir('gantry');
      const spec: CommandSpec = {
        ...gantryArgv(bin, [
          'build',
          context,
          '--output',
          `type=oci,dest=${state.out},tar=false`,
          '--progress',
          'quiet',
        ]),
        env: { GANTRY_STORE: join(state.dir, 'store'), TMPDIR: state.dir },
      };
      return { spec, state };
    },
    async finish(state) {
      const facts = await inspectLayout(state.out);
      checkGzip(name, facts, log);
      return facts.bytes;
    },
    cleanup: (state) => rm(state.dir, { recursive: true, force: true }),
  };
}

export function buildahVersion(): string | undefined {
  const r = spawnSync('buildah', ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/**
 * `buildah bud` of `FROM scratch` + `COPY . /` straight to an `oci:` destination (buildah
 * commits to any transport named by -t, so no separate push is needed). vfs storage and
 * chroot isolation need no kernel features, and a fresh --root per run means no cache.
 * Compression is turned on explicitly: buildah leaves layers uncompressed for oci: by default,
 * and gantry gzips, so without it the two would not do the same job.
 */
export function buildahBud(context: string, log?: (line: string) => void): Contender<RunDir> {
  return {
    name: 'buildah',
    async prepare() {
      const state = await runDir('buildah');
      const containerfile = join(state.dir, 'Containerfile');
      await writeFile(containerfile, 'FROM scratch\nCOPY . /\n');
      const spec: CommandSpec = {
        file: 'buildah',
        args: [
          '--root',
          join(state.dir, 'root'),
          '--runroot',
          join(state.dir, 'runroot'),
          '--storage-driver',
          'vfs',
          'bud',
          '--quiet',
          '--isolation',
          'chroot',
          '--disable-compression=false',
          '-f',
          containerfile,
          '-t',
          `oci:${state.out}`,
          context,
        ],
        env: { TMPDIR: state.dir },
      };
      return { spec, state };
    },
    async finish(state) {
      const facts = await inspectLayout(state.out);
      checkGzip('buildah', facts, log);
      return facts.bytes;
    },
    cleanup: (state) => rm(state.dir, { recursive: true, force: true }),
  };
}

/** A command over one input file that needs no per-run directory. */
export function fileTool(name: string, file: string, args: readonly string[]): Contender<undefined> {
  return {
    name,
    prepare: async () => ({ spec: { file, args }, state: undefined }),
    finish: async () => undefined,
    cleanup: async () => {},
  };
}

const NODE_THROUGHPUT = fileURLToPath(new URL('./node-throughput.js', import.meta.url));

export function nodeThroughput(name: string, mode: 'gzip' | 'sha256' | 'layer', input: string): Contender<undefined> {
  if (!existsSync(NODE_THROUGHPUT)) {
    throw new GantryError('BENCH_NOT_BUILT', `${NODE_THROUGHPUT} not found`, {
      phase: 'io',
      suggestion: 'run the bench with npm run bench, which compiles it first',
    });
  }
  return fileTool(name, process.execPath, [NODE_THROUGHPUT, mode, input]);
}
