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
import { detectFramework, type Framework, resolveEntry } from './entry.js';
import { APP_DIR, type InstallPlan, installPlan } from './install.js';
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
  readonly install: InstallPlan;
  /** The install with devDependencies, for the build stage (when there is a build). */
  readonly devInstall?: InstallPlan;
  readonly builds: readonly BuildRun[];
  readonly buildOn: 'container' | 'host';
  readonly workdir: string;
  readonly entrypoint: readonly string[];
  readonly cmd?: readonly string[];
  readonly entryWhy: string;
  readonly framework?: Framework;
  readonly ports: readonly string[];
  readonly portWhy?: string;
  readonly env: readonly string[];
  /** The user, unless the base decides it (`undefined`: `node` in node images, else 1000). */
  readonly user?: string;
}

/** `gantry` in package.json, read loosely until the shared project schema is in place. */
function projectConfig(pkg: PackageJson, file: string): NodeProjectOptions {
  const raw = pkg.gantry;
  if (raw === undefined) return {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new GantryError('NODE_CONFIG_INVALID', `${file}: "gantry" is not an object`, {
      phase: 'config',
      suggestion: 'give "gantry": {"from": "...", "entrypoint": [...], ...}',
    });
  }
  const o = raw as Record<string, unknown>;
  const str = (k: string): string | undefined => {
    if (o[k] === undefined) return undefined;
    if (typeof o[k] !== 'string')
      throw new GantryError('NODE_CONFIG_INVALID', `${file}: "gantry.${k}" is not a string`, { phase: 'config' });
    return o[k] as string;
  };
  const list = (k: string): string[] | undefined => {
    const v = o[k];
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' && typeof x !== 'number'))
      throw new GantryError('NODE_CONFIG_INVALID', `${file}: "gantry.${k}" is not a list`, { phase: 'config' });
    return v.map(String);
  };
  const env = o.env;
  const envList =
    env && typeof env === 'object' && !Array.isArray(env)
      ? Object.entries(env as Record<string, unknown>).map(([k, v]) => `${k}=${String(v)}`)
      : list('env');
  const buildOn = str('buildOn');
  if (buildOn !== undefined && buildOn !== 'host' && buildOn !== 'container')
    throw new GantryError('NODE_CONFIG_INVALID', `${file}: "gantry.buildOn" is ${JSON.stringify(buildOn)}`, {
      phase: 'config',
      suggestion: 'use "container" or "host"',
    });
  const out: Record<string, unknown> = {
    from: str('from') ?? str('base'),
    workspace: str('workspace'),
    buildOn,
    buildOutput: str('buildOutput'),
    entrypoint: list('entrypoint'),
    cmd: list('cmd'),
    user: str('user'),
    expose: list('ports') ?? list('expose'),
    env: envList,
  };
  for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
  return out as NodeProjectOptions;
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
  readonly env?: readonly string[];
  readonly processEnv?: NodeJS.ProcessEnv;
}

/** Decides everything about a Node.js build that the project's files decide. */
export async function planNode(input: PlanInput): Promise<NodePlan> {
  const root = resolve(input.context);
  const pkg = await readPackageJson(root);
  const config = projectConfig(pkg, join(root, 'package.json'));
  const o: NodeProjectOptions = {
    ...config,
    ...Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined)),
  };
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
  const major = await nodeMajor(appRoot, appPkg.engines?.node !== undefined ? appPkg : pkg);
  const envBase = (input.processEnv ?? process.env).GANTRY_NODE_BASE;
  const base = o.from
    ? { ref: o.from, why: input.from ? '--from' : '"gantry.from" in package.json' }
    : envBase
      ? { ref: envBase.replace('{major}', String(major.major)), why: 'GANTRY_NODE_BASE' }
      : { ref: `node:${major.major}-slim`, why: major.why };
  const shipped = selected ? needed : [];
  const builds: BuildRun[] = [];
  const buildOf = async (d: string, p: PackageJson): Promise<void> => {
    if (p.scripts?.build === undefined) return;
    const output = o.buildOutput && d === dir ? o.buildOutput : ((await tsOutDir(join(root, d))) ?? 'dist');
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
    : resolveEntry(appPkg, (f) => existsSync(join(appRoot, f)) || [...outputs].some((out) => f.startsWith(`${out}/`)));
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
  const env = ['NODE_ENV=production', ...(o.env ?? [])];
  return {
    root,
    pkg: appPkg,
    name: appPkg.name ?? posix.basename(root),
    pm,
    dir,
    members,
    needed: shipped,
    base,
    install,
    ...(devInstall ? { devInstall } : {}),
    builds,
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
  };
}

/** The plan as lines for `--dry-run` and `-v`. */
export function describePlan(plan: NodePlan): string[] {
  const lines = [
    `project     ${plan.name}${plan.dir ? ` (workspace ${plan.dir})` : ''}: Node.js`,
    `base        ${plan.base.ref} (${plan.base.why})`,
    `packages    ${plan.pm.name}${plan.pm.version ? `@${plan.pm.version}` : ''} (${plan.pm.why})`,
    `layer 1     dependencies: ${plan.install.shown}`,
  ];
  if (plan.builds.length > 0) {
    const where =
      plan.buildOn === 'host'
        ? 'taken from the host'
        : `built in a stage: ${plan.devInstall?.shown}, then npm run build`;
    lines.push(`layer 2     build output ${plan.builds.map((b) => posix.join(b.dir, b.output)).join(', ')} (${where})`);
  }
  lines.push(`layer ${plan.builds.length > 0 ? 3 : 2}     app files under ${APP_DIR}`);
  lines.push(`entrypoint  ${JSON.stringify(plan.entrypoint)} (${plan.entryWhy})`);
  if (plan.framework) lines.push(`framework   ${plan.framework.name} (${plan.framework.why})`);
  if (plan.ports.length > 0) lines.push(`ports       ${plan.ports.join(', ')} (${plan.portWhy ?? ''})`);
  lines.push(`workdir     ${plan.workdir}`);
  lines.push(`env         ${plan.env.join(' ')}`);
  lines.push(`user        ${plan.user ?? 'node when the base has it, else 1000'}`);
  return lines;
}
