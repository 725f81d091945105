/**
 * The plan of a Node.js project build, decided from the project's files alone (no image is
 * read): the package and workspace, package manager and install commands, the base, the build
 * step and its output, what ships, the entrypoint, framework, ports, environment and user, each
 * with the reason it was chosen. `--dry-run` prints it; the build carries it out.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, posix, resolve } from 'node:path';
import { GantryError } from '../../errors.js';
import { chooseBase, defaultBaseFor } from '../project/base.js';
import { loadProjectConfig, type ProjectConfig } from '../project/config.js';
import { DEFAULT_USER } from '../project/image-config.js';
import type { PlanDecision, PlanLayer, ProjectPlan } from '../project/plan.js';
import { detectFramework, type Framework, nextStandalone, resolveEntry } from './entry.js';
import { APP_DIR, type InstallPlan, installPlan } from './install.js';
import { STANDALONE, STATIC } from './next.js';
import {
  allDependencies,
  detectPackageManager,
  nodeMajor,
  type PackageJson,
  type PackageManager,
  readPackageJson,
} from './package.js';
import { selectWorkspace, type WorkspaceMember, workspaceMembers } from './workspace.js';

/** Options a Node.js build takes besides the common image settings. */
export interface NodeProjectOptions {
  /** The base image; default `node:<major>-slim` (GANTRY_NODE_BASE overrides the default). */
  readonly from?: string;
  /** The workspace package to build (a name or a directory). */
  readonly workspace?: string;
  /** Where the build script runs: in a build stage on the base (default), or take the host's output. */
  readonly buildOn?: 'container' | 'host';
  /** The output directory of the build script (default: tsconfig's outDir, else dist). */
  readonly buildOutput?: string;
  readonly entrypoint?: readonly string[];
  readonly cmd?: readonly string[];
  readonly user?: string;
  readonly expose?: readonly string[];
  readonly env?: readonly string[];
}

/** A member whose `build` script runs, and the directory it writes. */
export interface BuildRun {
  /** The package directory, relative to the root ('' for the root package). */
  readonly dir: string;
  readonly output: string;
}

export interface NodePlan {
  readonly root: string;
  readonly pkg: PackageJson;
  readonly name: string;
  readonly pm: PackageManager;
  /** The package directory in the project ('' for the root). */
  readonly dir: string;
  readonly members: readonly WorkspaceMember[];
  /** The members that ship (workspace builds): the selected one and what it needs. */
  readonly needed: readonly WorkspaceMember[];
  readonly base: { readonly ref: string; readonly why: string };
  /** Where installs and builds run when the base has no npm (distroless): node:<major>-slim. */
  readonly toolsBase: string;
  readonly install: InstallPlan;
  /** The install with devDependencies, for the build stage (when there is a build). */
  readonly devInstall?: InstallPlan;
  readonly builds: readonly BuildRun[];
  /**
   * Next.js with `output: 'standalone'`: the build's .next/standalone is the app (with the
   * node_modules Next traced, so no dependency layer), .next/static goes beside it and public/
   * ships from the sources; `node server.js` on port 3000.
   */
  readonly nextStandalone: boolean;
  readonly buildOn: 'container' | 'host';
  readonly workdir: string;
  readonly entrypoint: readonly string[];
  readonly cmd?: readonly string[];
  readonly entryWhy: string;
  readonly framework?: Framework;
  readonly ports: readonly string[];
  readonly portWhy?: string;
  readonly env: readonly string[];
  /** The user, unless the base decides it (`undefined`: `node` in node images, else DEFAULT_USER). */
  readonly user?: string;
  /** Labels from the configuration. */
  readonly labels: Readonly<Record<string, string>>;
  /** Extra context-relative paths for the app layer, and patterns left out (configuration). */
  readonly include: readonly string[];
  readonly exclude: readonly string[];
  /** Where the configuration came from, if anywhere. */
  readonly configSource?: string;
}

/** tsconfig's compilerOptions.outDir (comments and trailing commas allowed, as tsc reads it). */
async function tsOutDir(dir: string): Promise<string | undefined> {
  const text = await readFile(join(dir, 'tsconfig.json'), 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  const m = /"outDir"\s*:\s*"([^"]+)"/.exec(text.replace(/\/\*[\s\S]*?\*\/|(^|[^:"])\/\/.*$/gm, '$1'));
  return m ? posix.normalize((m[1] as string).replace(/^\.\//, '')).replace(/\/+$/, '') : undefined;
}

export interface PlanInput extends NodeProjectOptions {
  readonly context: string;
  /** Where GANTRY_NODE_BASE is read; default process.env. */
  readonly processEnv?: NodeJS.ProcessEnv;
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(
    Object.entries(o).filter(([, v]) => v !== undefined && !(Array.isArray(v) && v.length === 0)),
  ) as Partial<T>;
}

/** The project configuration as flags would give it (flags win over it). */
function fromConfig(c: ProjectConfig): NodeProjectOptions {
  return {
    ...definedOnly({
      workspace: c.workspace,
      buildOn: c.buildOn,
      buildOutput: c.buildOutput,
      entrypoint: c.entrypoint,
      cmd: c.cmd,
      user: c.user,
      env: c.env ? Object.entries(c.env).map(([k, v]) => `${k}=${v}`) : undefined,
    }),
    // `ports = []` says the image exposes none (a command-line tool), instead of what the code suggests.
    ...(c.ports !== undefined ? { expose: c.ports } : {}),
  } as NodeProjectOptions;
}

/** Decides everything about a Node.js build that the project's files decide. */
export async function planNode(input: PlanInput): Promise<NodePlan> {
  const root = resolve(input.context);
  const pkg = await readPackageJson(root);
  const loaded = await loadProjectConfig(root, 'node');
  const flags = definedOnly(input) as NodeProjectOptions;
  const o: NodeProjectOptions = { ...fromConfig(loaded.config), ...flags };
  const pm = await detectPackageManager(root, pkg);
  const members = await workspaceMembers(root, pkg, pm);
  let selected: WorkspaceMember | undefined;
  let needed: WorkspaceMember[] = [];
  if (o.workspace !== undefined) {
    if (members.length === 0)
      throw new GantryError('NODE_WORKSPACE_NOT_FOUND', `--workspace ${o.workspace}: ${root} declares no workspaces`, {
        phase: 'config',
        suggestion: 'drop --workspace, or build from the workspace root',
      });
    ({ selected, needed } = selectWorkspace(members, o.workspace));
  }
  const appPkg = selected?.pkg ?? pkg;
  const dir = selected?.dir ?? '';
  const appRoot = join(root, dir);
  const major = loaded.config.node?.version
    ? { major: Number.parseInt(loaded.config.node.version, 10), why: `node.version in ${loaded.source}` }
    : await nodeMajor(appRoot, appPkg.engines?.node !== undefined ? appPkg : pkg);
  const base = chooseBase({
    kind: 'node',
    ...(input.from ? { flag: input.from } : {}),
    config: {
      ...(loaded.config.base ? { base: loaded.config.base } : {}),
      ...(loaded.source ? { source: loaded.source } : {}),
    },
    version: { value: String(major.major), why: major.why },
    ...(input.processEnv ? { env: input.processEnv } : {}),
  });
  const shipped = selected ? needed : [];
  const builds: BuildRun[] = [];
  // Next.js standalone, of the package or of the selected workspace member.
  const standalone =
    appPkg.scripts?.build !== undefined && allDependencies(appPkg).includes('next') && (await nextStandalone(appRoot));
  const buildOf = async (d: string, p: PackageJson): Promise<void> => {
    if (p.scripts?.build === undefined) return;
    const output =
      standalone && d === dir
        ? '.next'
        : o.buildOutput && d === dir
          ? o.buildOutput
          : ((await tsOutDir(join(root, d))) ?? 'dist');
    builds.push({ dir: d, output });
  };
  // Dependencies first, so a member's build sees the output of the members it imports.
  if (selected) for (const m of [...shipped].reverse()) await buildOf(m.dir, m.pkg);
  else await buildOf('', pkg);
  const install = await installPlan({ root, pkg, pm, members, ...(selected ? { selected } : {}), dev: false });
  const devInstall =
    builds.length > 0
      ? await installPlan({ root, pkg, pm, members, ...(selected ? { selected } : {}), dev: true })
      : undefined;
  const outputs = new Set(builds.filter((b) => b.dir === dir).map((b) => b.output));
  const entry = o.entrypoint
    ? undefined
    : standalone
      ? {
          file: 'server.js',
          args: ['server.js'],
          why: `Next.js standalone output (${posix.join(dir, STANDALONE, dir, 'server.js')})`,
        }
      : resolveEntry(
          appPkg,
          (f) => existsSync(join(appRoot, f)) || [...outputs].some((out) => f.startsWith(`${out}/`)),
        );
  if (entry && /\.(?:ts|tsx|mts|cts)$/.test(entry.file)) {
    throw new GantryError(
      'NODE_ENTRYPOINT_TYPESCRIPT',
      `the entrypoint ${entry.file} is TypeScript, which node does not run`,
      {
        phase: 'config',
        suggestion: 'point "main" (or "bin") at the compiled file, e.g. dist/index.js, and add a "build" script',
      },
    );
  }
  const workdir = posix.join(APP_DIR, dir);
  const detected = await detectFramework(appRoot, allDependencies(appPkg), outputs);
  const ports = o.expose ?? (detected.port !== undefined ? [String(detected.port)] : []);
  // Next's standalone server.js listens on $HOSTNAME, which a container runtime sets to its name.
  const env = ['NODE_ENV=production', ...(standalone ? ['HOSTNAME=0.0.0.0'] : []), ...(o.env ?? [])];
  return {
    root,
    pkg: appPkg,
    name: appPkg.name ?? posix.basename(root),
    pm,
    dir,
    members,
    needed: shipped,
    base,
    toolsBase: defaultBaseFor('node', String(major.major)),
    install,
    ...(devInstall ? { devInstall } : {}),
    builds,
    nextStandalone: standalone,
    buildOn: o.buildOn ?? 'container',
    workdir,
    entrypoint: o.entrypoint ?? ['node', ...(entry?.args ?? [])],
    ...(o.cmd ? { cmd: o.cmd } : {}),
    entryWhy: entry?.why ?? 'given',
    ...(detected.framework ? { framework: detected.framework } : {}),
    ports,
    ...(o.expose ? { portWhy: 'given' } : detected.portWhy ? { portWhy: detected.portWhy } : {}),
    env,
    ...(o.user !== undefined ? { user: o.user } : {}),
    labels: loaded.config.labels ?? {},
    include: loaded.config.include ?? [],
    exclude: loaded.config.exclude ?? [],
    ...(loaded.source ? { configSource: loaded.source } : {}),
  };
}

/** The user a node image runs as: `node` when the base is an official-style node image, else DEFAULT_USER. */
export const NODE_IMAGE_USER = 'node';

/** The plan in the shared shape `--dry-run` prints (`-v` adds every reason). */
export function projectPlanOf(
  plan: NodePlan,
  platforms: readonly string[],
  appFiles?: { files: number; bytes: number },
): ProjectPlan {
  const layers: PlanLayer[] = plan.nextStandalone
    ? []
    : [
        {
          name: `dependencies: ${plan.install.shown}`,
          why: `production dependencies, ${plan.pm.lockfile ? `from ${plan.pm.lockfile}` : 'no lockfile'}, installed in the base`,
        },
      ];
  if (plan.nextStandalone) {
    layers.push({
      name: `Next.js standalone output: ${posix.join(plan.dir, STANDALONE)} as ${APP_DIR}, ${posix.join(plan.dir, STATIC)} as ${posix.join(APP_DIR, plan.dir, STATIC)}`,
      why:
        plan.buildOn === 'host'
          ? 'taken from the host (--build-on host); its node_modules are the ones Next traced'
          : `built in a stage: ${plan.devInstall?.shown}, then npm run build; its node_modules are the ones Next traced`,
    });
  } else if (plan.builds.length > 0) {
    const outputs = plan.builds.map((b) => posix.join(b.dir, b.output)).join(', ');
    layers.push({
      name: `build output ${outputs}`,
      why:
        plan.buildOn === 'host'
          ? 'taken from the host (--build-on host)'
          : `built in a stage: ${plan.devInstall?.shown}, then npm run build`,
    });
  }
  layers.push({
    name: `app files ${APP_DIR}`,
    ...(appFiles ?? {}),
    why: plan.nextStandalone
      ? `${posix.join(plan.dir, 'public')}/ (Next.js serves it from beside server.js)`
      : plan.pkg.files
        ? '"files" of package.json'
        : 'the project minus ignored files',
  });
  const env: Record<string, string> = {};
  for (const pair of plan.env) env[pair.slice(0, pair.indexOf('='))] = pair.slice(pair.indexOf('=') + 1);
  const decisions: PlanDecision[] = [
    {
      topic: 'frontend',
      value: 'node',
      why: plan.dir ? `workspace ${plan.dir} of a Node.js project` : 'package.json makes it a Node.js project',
    },
    { topic: 'base', value: plan.base.ref, why: plan.base.why },
    {
      topic: 'package-manager',
      value: `${plan.pm.name}${plan.pm.version ? `@${plan.pm.version}` : ''}`,
      why: plan.pm.why,
    },
    { topic: 'entrypoint', value: JSON.stringify(plan.entrypoint), why: plan.entryWhy },
  ];
  if (plan.framework) decisions.push({ topic: 'framework', value: plan.framework.name, why: plan.framework.why });
  if (plan.ports.length > 0) decisions.push({ topic: 'ports', value: plan.ports.join(', '), why: plan.portWhy ?? '' });
  decisions.push({
    topic: 'user',
    value: plan.user ?? NODE_IMAGE_USER,
    why: plan.user
      ? 'given'
      : `the ${NODE_IMAGE_USER} user of node images (${DEFAULT_USER} on a base without NODE_VERSION)`,
  });
  return {
    frontend: 'node',
    base: plan.base.ref,
    platforms,
    layers,
    entrypoint: plan.entrypoint,
    ...(plan.cmd ? { cmd: plan.cmd } : {}),
    ports: plan.ports,
    user: plan.user ?? NODE_IMAGE_USER,
    workdir: plan.workdir,
    env,
    decisions,
  };
}
