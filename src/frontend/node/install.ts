/**
 * The dependency install: the project's package manager runs inside the base image for the
 * target platform (so native addons are compiled or fetched for it), in the engine's sandbox, on
 * a copy of only what decides the result: package.json reduced to its dependency fields, the
 * lockfile, and the workspace members' manifests. Those files are removed again before the
 * snapshot, so the layer holds node_modules and nothing of the source: a source change never
 * invalidates it. Package caches live in a cache directory of the store mounted for the run,
 * never in the layer; credentials and CAs come in as secrets (see secrets.ts).
 */
import { existsSync } from 'node:fs';
import { chmod, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { EPHEMERAL_PATHS, resolveInRoot, runOrThrow } from '../../engine/executor/index.js';
import type { StepContext, StepLayer } from '../../engine/solver/steps.js';
import { writeEntries } from '../../engine/solver/steps.js';
import type { TarInput } from '../../layer/tar/types.js';
import type { Layer } from '../../oci/image.js';
import type { Platform } from '../../oci/types.js';
import { mkdirp } from '../../util/fs.js';
import type { PackageJson, PackageManager } from './package.js';
import type { InstallSecrets } from './secrets.js';
import type { WorkspaceMember } from './workspace.js';

/** Where the app lives in the image. */
export const APP_DIR = '/app';
/** Where the store's package cache is mounted during installs. */
const CACHE_DIR = '/run/gantry/cache';

/** The package.json fields that decide what an install does; scripts, main, files... do not. */
const INSTALL_FIELDS = [
  'name',
  'version',
  'dependencies',
  'devDependencies',
  'optionalDependencies',
  'peerDependencies',
  'peerDependenciesMeta',
  'bundleDependencies',
  'bundledDependencies',
  'overrides',
  'resolutions',
  'pnpm',
  'workspaces',
  'packageManager',
  'engines',
  'os',
  'cpu',
];

export function installManifest(pkg: PackageJson): string {
  const out: Record<string, unknown> = {};
  for (const k of INSTALL_FIELDS) if (pkg[k] !== undefined) out[k] = pkg[k];
  return `${JSON.stringify(out, null, 2)}\n`;
}

export interface InstallPlan {
  /** The command, run in APP_DIR (or the member's directory). */
  readonly argv: readonly string[];
  /** Files written under APP_DIR before the run and removed after it, '/'-separated relative paths. */
  readonly staged: readonly { readonly path: string; readonly content: Buffer }[];
  /** Variables the install sees (not secrets). */
  readonly env: readonly string[];
  /** Whether devDependencies are installed too (the build stage). */
  readonly dev: boolean;
  /** The command as shown by `--dry-run` and progress. */
  readonly shown: string;
}

const PNPM_DEFAULT = '9';
const YARN_CLASSIC_DEFAULT = '1.22.22';

/** `npm exec` of a package manager at a version, from the registry (cached in the store's mount). */
function viaNpmExec(pkgSpec: string, bin: string, args: readonly string[]): string[] {
  return ['npm', 'exec', '--yes', `--package=${pkgSpec}`, '--', bin, ...args];
}

export interface InstallInput {
  readonly root: string;
  readonly pkg: PackageJson;
  readonly pm: PackageManager;
  /** Workspace members to stage (all of them: the lockfile names them all). */
  readonly members: readonly WorkspaceMember[];
  /** The member being built (workspace builds), whose dependencies are installed. */
  readonly selected?: WorkspaceMember;
  readonly dev: boolean;
}

/** What to stage and run for an install. */
export async function installPlan(input: InstallInput): Promise<InstallPlan> {
  const { root, pkg, pm, members, selected, dev } = input;
  const staged: { path: string; content: Buffer }[] = [
    { path: 'package.json', content: Buffer.from(installManifest(pkg)) },
  ];
  if (pm.lockfile) staged.push({ path: pm.lockfile, content: await readFile(join(root, pm.lockfile)) });
  for (const extra of ['pnpm-workspace.yaml', '.yarnrc.yml']) {
    if (existsSync(join(root, extra))) staged.push({ path: extra, content: await readFile(join(root, extra)) });
  }
  for (const m of members) staged.push({ path: `${m.dir}/package.json`, content: Buffer.from(installManifest(m.pkg)) });
  const env = ['npm_config_update_notifier=false', 'npm_config_fund=false', 'npm_config_audit=false', 'CI=true'];
  let argv: string[];
  switch (pm.name) {
    case 'npm': {
      const omit = dev ? [] : ['--omit=dev'];
      const ws = selected ? [`--workspace=${selected.dir}`] : [];
      argv = pm.lockfile ? ['npm', 'ci', ...omit, ...ws] : ['npm', 'install', ...omit, ...ws, '--no-package-lock'];
      env.push(`npm_config_cache=${CACHE_DIR}/npm`);
      break;
    }
    case 'pnpm': {
      const args = ['install', pm.lockfile ? '--frozen-lockfile' : '--no-frozen-lockfile'];
      if (!dev) args.push('--prod');
      if (selected) args.push(`--filter=${selected.pkg.name ?? `./${selected.dir}`}...`);
      args.push(`--store-dir=${CACHE_DIR}/pnpm-store`, '--config.confirmModulesPurge=false', '--reporter=append-only');
      argv = viaNpmExec(`pnpm@${pm.version ?? PNPM_DEFAULT}`, 'pnpm', args);
      env.push(`npm_config_cache=${CACHE_DIR}/npm`);
      break;
    }
    case 'yarn': {
      if (pm.flavor === 'berry') {
        // Yarn 4: `workspaces focus` installs one workspace (or all) without devDependencies.
        const args = dev
          ? ['install', pm.lockfile ? '--immutable' : '--no-immutable']
          : ['workspaces', 'focus', ...(selected ? [selected.pkg.name ?? selected.dir] : ['--all']), '--production'];
        argv = viaNpmExec(`@yarnpkg/cli-dist@${pm.version ?? '4'}`, 'yarn', args);
        env.push(
          `npm_config_cache=${CACHE_DIR}/npm`,
          `YARN_CACHE_FOLDER=${CACHE_DIR}/yarn-berry`,
          'YARN_NODE_LINKER=node-modules',
          'YARN_ENABLE_GLOBAL_CACHE=false',
        );
      } else {
        const args = ['install', '--non-interactive', `--cache-folder=${CACHE_DIR}/yarn`];
        if (pm.lockfile) args.push('--frozen-lockfile');
        if (!dev) args.push('--production');
        argv = viaNpmExec(`yarn@${pm.version ?? YARN_CLASSIC_DEFAULT}`, 'yarn', args);
        env.push(`npm_config_cache=${CACHE_DIR}/npm`);
      }
      break;
    }
  }
  return { argv, staged, env, dev, shown: argv.join(' ') };
}

/** What no layer may hold after an install: caches and logs in HOME, temp files, the mount points. */
const NEVER_IN_LAYER = ['root/.npm', 'root/.cache', 'root/.local', 'root/.config', 'root/.yarn', 'tmp', 'run/gantry'];

/** The snapshot's changes with every mtime set to `mtime`: the same install gives the same layer. */
async function* clamped(entries: AsyncIterable<TarInput>, mtime: number): AsyncGenerator<TarInput> {
  for await (const e of entries) yield { ...e, entry: { ...e.entry, mtime } };
}

export interface RunInSnapshotOptions {
  readonly platform: Platform;
  /** The base's environment (PATH and friends). */
  readonly env: readonly string[];
  readonly secrets: InstallSecrets;
  /** The store's cache directory for package managers (mounted at CACHE_DIR). */
  readonly cacheDir: string;
  readonly log: (line: string) => void;
  /** mtime of every entry of the layer. */
  readonly mtime: number;
}

/** Runs the install in a sandbox on `layers` and returns the node_modules it made as a layer. */
export async function installStep(
  layers: readonly Layer[],
  plan: InstallPlan,
  options: RunInSnapshotOptions,
  ctx: StepContext,
): Promise<StepLayer | undefined> {
  return ctx.fs.with(
    layers,
    async (snapshot) => {
      const app = join(snapshot.root, await resolveInRoot(snapshot.root, APP_DIR));
      await mkdirp(app);
      await chmod(app, 0o755);
      const written: string[] = [];
      for (const f of plan.staged) {
        const at = join(app, ...f.path.split('/'));
        await mkdirp(dirname(at));
        await writeFile(at, f.content, { mode: 0o644 });
        written.push(at);
      }
      await mkdirp(options.cacheDir);
      // Node's own headers in the base (official images and builds from nodejs.org have them):
      // node-gyp uses them instead of downloading from nodejs.org, which may be unreachable.
      const headers = existsSync(join(snapshot.root, 'usr', 'local', 'include', 'node', 'node_version.h'))
        ? ['npm_config_nodedir=/usr/local']
        : [];
      await runOrThrow(
        {
          rootfs: snapshot.root,
          args: plan.argv,
          env: [...options.env, ...plan.env, ...headers, ...options.secrets.env],
          cwd: APP_DIR,
          network: 'default',
          platform: options.platform,
          mounts: [{ source: options.cacheDir, target: CACHE_DIR }, ...(await options.secrets.mounts())],
          onOutput: (line) => options.log(line),
          ...(ctx.signal ? { signal: ctx.signal } : {}),
        },
        ctx.isolation ? { isolation: ctx.isolation } : {},
      );
      for (const at of written) await rm(at, { force: true });
      // Directories made only to hold a staged manifest (a member the install left alone) go too.
      for (const at of written) {
        for (let dir = dirname(at); dir.length > app.length; dir = dirname(dir)) {
          if (
            !(await rmdir(dir).then(
              () => true,
              () => false,
            ))
          )
            break;
        }
      }
      const ignore = [...EPHEMERAL_PATHS.map((p) => p.replace(/^\/+/, '')), ...NEVER_IN_LAYER];
      const it = snapshot.commit({ ignore, signal: ctx.signal })[Symbol.asyncIterator]();
      const first = await it.next();
      if (first.done) return undefined;
      async function* all(): AsyncGenerator<TarInput> {
        yield first.value;
        for (let next = await it.next(); !next.done; next = await it.next()) yield next.value;
      }
      return writeEntries(clamped(all(), options.mtime), ctx);
    },
    ctx,
  );
}

/** Runs `argv` in each directory (relative to APP_DIR) on `layers`; the changes are the layer. */
export async function buildStep(
  layers: readonly Layer[],
  runs: readonly { readonly dir: string; readonly argv: readonly string[] }[],
  options: Omit<RunInSnapshotOptions, 'secrets'> & { readonly secrets: InstallSecrets },
  ctx: StepContext,
): Promise<StepLayer | undefined> {
  return ctx.fs.with(
    layers,
    async (snapshot) => {
      await mkdirp(options.cacheDir);
      for (const r of runs) {
        await runOrThrow(
          {
            rootfs: snapshot.root,
            args: r.argv,
            env: [
              ...options.env,
              `npm_config_cache=${CACHE_DIR}/npm`,
              'npm_config_update_notifier=false',
              ...options.secrets.env,
            ],
            cwd: posix.join(APP_DIR, r.dir),
            network: 'default',
            platform: options.platform,
            mounts: [{ source: options.cacheDir, target: CACHE_DIR }, ...(await options.secrets.mounts())],
            onOutput: (line) => options.log(line),
            ...(ctx.signal ? { signal: ctx.signal } : {}),
          },
          ctx.isolation ? { isolation: ctx.isolation } : {},
        );
      }
      const ignore = [...EPHEMERAL_PATHS.map((p) => p.replace(/^\/+/, '')), ...NEVER_IN_LAYER];
      const entries: TarInput[] = [];
      for await (const e of snapshot.commit({ ignore, signal: ctx.signal })) entries.push(e);
      if (entries.length === 0) return undefined;
      return writeEntries(clamped(toAsync(entries), options.mtime), ctx);
    },
    ctx,
  );
}

async function* toAsync<T>(items: readonly T[]): AsyncGenerator<T> {
  for (const i of items) yield i;
}
