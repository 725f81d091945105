/**
 * What a Python base can do for the build. An official-style python image (PYTHON_VERSION in its
 * Env) has python3 and pip on PATH and runs the install itself. Any other base is looked into
 * once (the answer is kept in the store's cache by the base's digest, so a rebuild does not
 * extract it again): where its interpreter is (python3 on PATH, else the entrypoint's python or
 * the usual places: distroless keeps /usr/bin/python3.11), which major.minor its standard library
 * is, and whether pip and the venv module are there. A base without them (distroless, a
 * shell-less image with only the interpreter) gets its dependencies installed in the tools image
 * (`python:<major.minor>-slim` of the base's own version, through the same mirrors), and only
 * /opt/venv is copied onto it, pointed at the base's interpreter (venv.ts `pointVenvAt`).
 */
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { cacheKey } from '../../engine/solver/keys.js';
import type { Filesystems } from '../../engine/solver/rootfs.js';
import type { Solver } from '../../engine/solver/solver.js';
import { GantryError, type IoOptions } from '../../errors.js';
import type { Image, Layer } from '../../oci/image.js';
import { formatPlatform } from '../../oci/platform.js';
import type { ImageConfig, Platform } from '../../oci/types.js';
import { writeFileAtomic } from '../../util/fs.js';
import { defaultBaseFor } from '../project/base.js';
import type { ToolsImage } from './deps.js';

export interface PythonBase {
  /** The interpreter's absolute path in the image (as found), or undefined when there is none. */
  readonly python?: string;
  /** `python3` runs it from PATH (the entrypoints gantry chooses start with `python3`). */
  readonly onPath: boolean;
  /** The standard library's major.minor (`3.11`), when found. */
  readonly version?: string;
  /** pip is importable by that interpreter. */
  readonly pip: boolean;
  /** The venv module is in its standard library. */
  readonly venv: boolean;
}

/** Where minimal images keep python when python3 is not on PATH. */
const PYTHON_PLACES = ['/usr/bin/python3', '/usr/local/bin/python3', '/opt/python/bin/python3'];
const INTERPRETER = /^python3(\.\d+)?$/;
const CACHE_FILE = 'python-base.json';
const CACHE_ENTRIES = 64;

function pathDirs(env: readonly string[]): string[] {
  const path = env.find((e) => e.startsWith('PATH='))?.slice(5) ?? '/usr/local/bin:/usr/bin:/bin';
  return path.split(':').filter((d) => d.startsWith('/'));
}

/** The path `abs` names inside `root` once its own links are followed (links stay inside root); undefined when it is no executable file. */
async function executableIn(root: string, abs: string): Promise<string | undefined> {
  let p = abs;
  for (let hops = 0; hops < 16; hops++) {
    const st = await lstat(join(root, p)).catch(() => undefined);
    if (!st) return undefined;
    if (!st.isSymbolicLink()) return st.isFile() && (st.mode & 0o111) !== 0 ? p : undefined;
    const target = await readlink(join(root, p));
    p = posix.isAbsolute(target) ? target : posix.join(posix.dirname(p), target);
  }
  return undefined;
}

async function exists(root: string, abs: string): Promise<boolean> {
  return (await lstat(join(root, abs)).catch(() => undefined)) !== undefined;
}

async function names(root: string, dir: string): Promise<string[]> {
  return (await readdir(join(root, dir)).catch(() => [] as string[])).sort();
}

/** Looks at the root filesystem `root` of an image with `env` and `entrypoint` for its Python. */
export async function probeRoot(
  root: string,
  env: readonly string[],
  entrypoint: readonly string[] = [],
): Promise<PythonBase> {
  const dirs = pathDirs(env);
  let python: string | undefined;
  let onPath = false;
  for (const d of dirs) {
    if (await executableIn(root, posix.join(d, 'python3'))) {
      python = posix.join(d, 'python3');
      onPath = true;
      break;
    }
  }
  if (!python) {
    const entry = entrypoint[0];
    const candidates = [
      ...(entry && posix.isAbsolute(entry) && INTERPRETER.test(posix.basename(entry)) ? [entry] : []),
      ...PYTHON_PLACES,
    ];
    for (const d of [...dirs, '/usr/bin', '/usr/local/bin'])
      for (const n of await names(root, d)) if (INTERPRETER.test(n)) candidates.push(posix.join(d, n));
    for (const c of candidates) {
      if (await executableIn(root, c)) {
        python = c;
        break;
      }
    }
  }
  if (!python) return { onPath: false, pip: false, venv: false };
  const real = (await executableIn(root, python)) as string;
  const prefix = posix.dirname(posix.dirname(real));
  const named = /^python(\d+\.\d+)$/.exec(posix.basename(real))?.[1];
  const stdlibs: string[] = [];
  for (const n of await names(root, posix.join(prefix, 'lib'))) {
    const m = /^python(\d+\.\d+)$/.exec(n);
    if (m && (await exists(root, posix.join(prefix, 'lib', n, 'os.py')))) stdlibs.push(m[1] as string);
  }
  const version = named && stdlibs.includes(named) ? named : stdlibs.length === 1 ? stdlibs[0] : named;
  if (!version) return { python, onPath, pip: false, venv: false };
  const stdlib = posix.join(prefix, 'lib', `python${version}`);
  const sitePlaces = [
    `${stdlib}/site-packages`,
    `${stdlib}/dist-packages`,
    `${prefix}/lib/python3/dist-packages`,
    `/usr/local/lib/python${version}/site-packages`,
    `/usr/local/lib/python${version}/dist-packages`,
    '/usr/lib/python3/dist-packages',
  ];
  let pip = false;
  for (const s of sitePlaces) if (await exists(root, `${s}/pip/__init__.py`)) pip = true;
  const venv = await exists(root, `${stdlib}/venv/__init__.py`);
  return { python, onPath, version, pip, venv };
}

async function readCache(path: string): Promise<Record<string, PythonBase>> {
  try {
    const parsed = JSON.parse(await readFile(path, 'utf8')) as unknown;
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed))
      return parsed as Record<string, PythonBase>;
  } catch {
    // no cache yet, or a torn one: look again
  }
  return {};
}

/**
 * The Python of the image `digest` (its `layers` and config `cfg`): from its Env when it is an
 * official-style image, else from `cacheDir` when it was looked into before, else by looking.
 */
export async function probePythonBase(
  fs: Filesystems,
  image: { readonly digest: string; readonly layers: () => Promise<readonly Layer[]>; readonly cfg: ImageConfig },
  cacheDir: string,
  io: IoOptions,
): Promise<PythonBase> {
  const env = image.cfg.config?.Env ?? [];
  const official = env.find((e) => e.startsWith('PYTHON_VERSION='))?.slice(15);
  if (official && /^\d+\.\d+/.test(official)) {
    const version = official.split('.').slice(0, 2).join('.');
    return { python: '/usr/local/bin/python3', onPath: true, version, pip: true, venv: true };
  }
  const path = join(cacheDir, CACHE_FILE);
  const cache = await readCache(path);
  const hit = cache[image.digest];
  if (hit && typeof hit.onPath === 'boolean') return hit;
  const found = await fs.with(
    await image.layers(),
    (snapshot) => probeRoot(snapshot.root, env, image.cfg.config?.Entrypoint ?? []),
    io,
  );
  const kept = Object.entries(cache).filter(([k]) => k !== image.digest);
  // A cache that cannot be written costs the next build another look, nothing more.
  await writeFileAtomic(
    path,
    JSON.stringify(Object.fromEntries([...kept.slice(-(CACHE_ENTRIES - 1)), [image.digest, found]])),
  ).catch(() => {});
  return found;
}

/** True when the install (pip into a venv) can run on this base. */
export function canInstall(base: PythonBase): boolean {
  return base.python !== undefined && base.pip && base.venv;
}

/** Refuses a tools image that cannot install for `base`: no pip, or another Python than the base's. */
export function checkTools(base: PythonBase, baseRef: string, tools: PythonBase, toolsRef: string): void {
  if (base.python === undefined) {
    throw new GantryError('PYTHON_BASE_NO_PYTHON', `the base ${baseRef} has no python interpreter`, {
      phase: 'build',
      suggestion: 'build from a Python base (python:<version>-slim or gcr.io/distroless/python3-debian12) with --from',
    });
  }
  if (base.version && tools.version && base.version !== tools.version) {
    throw new GantryError(
      'PYTHON_TOOLS_VERSION_MISMATCH',
      `the base ${baseRef} runs Python ${base.version}, the tools image ${toolsRef} has Python ${tools.version}`,
      {
        phase: 'build',
        suggestion: `make ${toolsRef} a Python ${base.version} image (its mirror), or use a base with pip`,
      },
    );
  }
  if (!canInstall(tools)) {
    throw new GantryError('PYTHON_TOOLS_NO_PIP', `the tools image ${toolsRef} has no pip to install with`, {
      phase: 'build',
      suggestion: `the base ${baseRef} has no pip either: use a base with pip, or a ${toolsRef} with pip (the official one has it)`,
    });
  }
}

/** Where the installs of one platform run: the base itself, or the tools image for it. */
export interface InstallPlace {
  /** The step parent: the image's key. */
  readonly key: string;
  readonly layers: readonly Layer[];
  readonly env: readonly string[];
  readonly base: PythonBase;
  readonly tools?: ToolsImage;
}

/**
 * Looks into the base (once per digest) and, when it cannot install, resolves the tools image
 * `python:<its major.minor>-slim` (`version` when the base's is unknown) for `platform`.
 */
export async function installPlace(
  solver: Solver,
  base: { readonly ref: string; readonly image: Image; readonly key: string },
  platform: Platform,
  version: string,
  cacheDir: string,
  io: IoOptions,
): Promise<InstallPlace> {
  const cfg = await base.image.configFile(io);
  const env = cfg.config?.Env ?? [];
  const layers = await base.image.layers(io);
  const probed = await probePythonBase(
    solver.fs,
    { digest: await base.image.digest(io), layers: async () => layers, cfg },
    cacheDir,
    io,
  );
  if (canInstall(probed)) return { key: base.key, layers, env, base: probed };
  // Nothing to point a venv at: refused before the tools image is fetched.
  if (probed.python === undefined) checkTools(probed, base.ref, probed, '');
  const ref = defaultBaseFor('python', probed.version ?? version);
  const tools = await solver.source(['image', ref, formatPlatform(platform)], `FROM ${ref} (tools)`, () =>
    solver.image(ref, platform),
  );
  const toolsCfg = await tools.configFile(io);
  const toolLayers = await tools.layers(io);
  const digest = await tools.digest(io);
  const toolsProbe = await probePythonBase(
    solver.fs,
    { digest, layers: async () => toolLayers, cfg: toolsCfg },
    cacheDir,
    io,
  );
  checkTools(probed, base.ref, toolsProbe, ref);
  const lacks = probed.pip ? 'no venv module' : 'no pip';
  return {
    key: cacheKey(['image', digest]),
    layers: toolLayers,
    env: toolsCfg.config?.Env ?? [],
    base: probed,
    tools: {
      ref,
      basePython: probed.python as string,
      toolsPython: toolsProbe.python as string,
      why: `the base has ${lacks}; Python ${probed.version ?? version}`,
    },
  };
}
