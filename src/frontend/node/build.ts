/**
 * A Node.js project as an image, through the solver: (1) production dependencies installed from
 * the lockfile in the base for the target platform, keyed only on what decides them (the
 * install manifest and lockfile, the package manager command, the base, the platform), so a
 * source change reuses it; (2) the build output when there is a build script, made in a build
 * stage on the base (devDependencies, the sources, `npm run build`) or taken from the host;
 * (3) the app files. Then the config: `node FILE` as entrypoint, ports, NODE_ENV=production, a
 * non-root user. Timestamps come from the source epoch, so the same source gives the same digest.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { Solver, type StepResult } from '../../engine/solver/solver.js';
import { layerWriteOptions } from '../../engine/solver/steps.js';
import { GantryError } from '../../errors.js';
import { walkDirectory } from '../../layer/walk.js';
import { createDigester } from '../../oci/digest.js';
import type { Image, Layer } from '../../oci/image.js';
import { newImage, newIndex } from '../../oci/mutate.js';
import { formatPlatform, hostPlatform } from '../../oci/platform.js';
import type { Platform } from '../../oci/types.js';
import { directoryLayer } from '../directory.js';
import { sourceEpoch } from '../project/epoch.js';
import { countFiles, type FileFilter } from '../project/files.js';
import { DEFAULT_USER, execForm, projectImageConfig } from '../project/image-config.js';
import type { ProjectPlan } from '../project/plan.js';
import type { ProjectBuildOptions, ProjectBuildResult, ProjectFrontEnd } from '../project/types.js';
import { probeBase } from './base.js';
import { nodeFiles } from './files.js';
import { APP_DIR, buildStep, type InstallPlan, installStep } from './install.js';
import { hostStandaloneLayers, publicOnly, STANDALONE, standaloneEntries } from './next.js';
import { NODE_IMAGE_USER, type NodePlan, planNode, projectPlanOf } from './plan.js';
import { type InstallSecrets, installSecrets } from './secrets.js';

function stagedDigest(plan: InstallPlan): string {
  const d = createDigester('sha256');
  for (const f of [...plan.staged].sort((a, b) => (a.path < b.path ? -1 : 1))) {
    d.update(Buffer.from(`${f.path}\n${f.content.length}\n`));
    d.update(f.content);
  }
  return d.digest();
}

/** True for a path that is an output directory, inside one, or a directory on the way to one. */
function underOrAbove(rel: string, dirs: readonly string[]): boolean {
  return dirs.some((d) => rel === d || rel.startsWith(`${d}/`) || d.startsWith(`${rel}/`));
}

interface PlatformBuild {
  readonly solver: Solver;
  readonly plan: NodePlan;
  readonly secrets: InstallSecrets;
  readonly cacheDir: string;
  /** Seconds: the mtime of source-made entries and the image's `created`. */
  readonly epoch: number;
  readonly created: string;
  readonly options: ProjectBuildOptions;
}

/** The app files of the package (or, for a workspace, the root manifest and the members it needs). */
export async function appFilter(
  plan: NodePlan,
  outDirs: readonly string[],
  options: { tests?: boolean } = {},
): Promise<FileFilter> {
  const common = { exclude: plan.exclude, ...(options.tests ? { tests: true } : {}) };
  if (plan.needed.length === 0) {
    const files = plan.pkg.files && !options.tests ? [...plan.pkg.files, ...plan.include] : undefined;
    return nodeFiles(plan.root, { ...common, outputs: outDirs, ...(files ? { files } : {}) });
  }
  const rules: { dir: string; filter: FileFilter }[] = [];
  for (const m of plan.needed) {
    const outs = outDirs.filter((d) => d.startsWith(`${m.dir}/`)).map((d) => d.slice(m.dir.length + 1));
    const files = m.pkg.files && !options.tests ? m.pkg.files : undefined;
    rules.push({
      dir: m.dir,
      filter: await nodeFiles(join(plan.root, m.dir), { ...common, outputs: outs, ...(files ? { files } : {}) }),
    });
  }
  return (rel, st) => {
    if (rel === 'package.json') return true;
    for (const { dir, filter } of rules) {
      if (rel === dir) return true;
      if (rel.startsWith(`${dir}/`)) return filter(rel.slice(dir.length + 1), st);
    }
    return st.isDirectory() && rules.some(({ dir }) => dir.startsWith(`${rel}/`));
  };
}

async function buildFor(b: PlatformBuild, platform: Platform): Promise<Image> {
  const { solver, plan, options } = b;
  const resolveBase = (ref: string) =>
    solver.source(['node base', ref, formatPlatform(platform)], `resolve base ${ref}`, () =>
      solver.image(ref, platform),
    );
  const base = await resolveBase(plan.base.ref);
  const io = options.signal ? { signal: options.signal } : {};
  const baseCfg = await base.configFile(io);
  const baseEnv = baseCfg.config?.Env ?? [];
  // A base without npm (distroless): installs and builds run in the tools image, their layers
  // are copied onto the base.
  const probe = await probeBase(solver.fs, await base.layers(io), baseCfg, plan.base.ref, io);
  const tools = probe.npm ? base : await resolveBase(plan.toolsBase);
  const toolLayers = await tools.layers(io);
  const toolsEnv = probe.npm ? baseEnv : ((await tools.configFile(io)).config?.Env ?? []);
  const parent = `node-base:${await tools.digest(io)}`;
  const run = { platform, env: toolsEnv, secrets: b.secrets, cacheDir: b.cacheDir, mtime: 0 };
  const install = (p: InstallPlan, what: string) =>
    solver.step({
      parent,
      inputs: [
        'node-install v1',
        JSON.stringify(p.argv),
        JSON.stringify(p.env),
        stagedDigest(p),
        formatPlatform(platform),
      ],
      name: `${what}: ${p.shown}`,
      run: (step) => installStep(toolLayers, p, { ...run, log: (l) => step.log(l) }, solver.context),
    });
  const added: { layer: Layer; createdBy: string }[] = [];
  if (!options.noDeps && !plan.nextStandalone) {
    const deps = await install(plan.install, 'install dependencies');
    if (deps.layer)
      added.push({ layer: deps.layer, createdBy: `RUN ${plan.install.shown} # gantry node: dependencies` });
  }
  const outDirs = plan.builds.map((o) => posix.join(o.dir, o.output));
  if (plan.builds.length > 0) {
    let output: StepResult;
    if (plan.nextStandalone && plan.buildOn === 'host') {
      const layers = await hostStandaloneLayers(solver, plan.root, APP_DIR, b.epoch, plan.dir);
      output = layers.pop() as StepResult;
      for (const l of layers)
        if (l.layer) added.push({ layer: l.layer, createdBy: `COPY ${STANDALONE} ${APP_DIR}/ # gantry node: Next.js` });
    } else if (plan.buildOn === 'host') {
      for (const d of outDirs) {
        if (!existsSync(join(plan.root, d)))
          throw new GantryError('NODE_BUILD_OUTPUT_MISSING', `--build-on host: ${d} does not exist`, {
            phase: 'build',
            suggestion: `run the build script on the host first (${plan.pm.name} run build), or build in the container`,
          });
      }
      output = await directoryLayer(solver, {
        root: plan.root,
        dest: APP_DIR,
        parent: 'directory',
        filter: (rel) => underOrAbove(rel, outDirs),
        mtime: b.epoch,
        name: `COPY ${outDirs.join(' ')} (built on the host)`,
      });
    } else {
      const dev = await install(plan.devInstall as InstallPlan, 'install build dependencies');
      const src = await directoryLayer(solver, {
        root: plan.root,
        dest: APP_DIR,
        parent: 'directory',
        filter: await appFilter(plan, outDirs, { tests: true }),
        mtime: b.epoch,
        name: 'COPY sources for the build',
      });
      const runs = plan.builds.map((o) => ({ dir: o.dir, argv: ['npm', 'run', 'build'] }));
      const stage = [...toolLayers, ...(dev.layer ? [dev.layer] : []), ...(src.layer ? [src.layer] : [])];
      const built = await solver.step({
        parent: dev.chain,
        inputs: ['node-build v1', src.diffID ?? 'none', JSON.stringify(runs), formatPlatform(platform)],
        name: `build: ${runs.map((r) => `${r.dir || '.'}: npm run build`).join(', ')}`,
        run: (step) => buildStep(stage, runs, { ...run, mtime: b.epoch, log: (l) => step.log(l) }, solver.context),
      });
      const all = [...stage, ...(built.layer ? [built.layer] : [])];
      output = await solver.step({
        parent: built.chain,
        inputs: [
          'node-output v1',
          JSON.stringify(outDirs),
          String(b.epoch),
          ...(plan.nextStandalone ? ['next-standalone'] : []),
        ],
        name: `COPY --from=build ${outDirs.join(' ')}`,
        run: () =>
          solver.fs.with(
            all,
            async (snapshot) => {
              const appRoot = join(snapshot.root, APP_DIR);
              if (plan.nextStandalone) {
                const entries = standaloneEntries(appRoot, APP_DIR.slice(1), b.epoch, solver.signal, plan.dir);
                const { info, layer } = await solver.store.writeLayer(entries, {
                  ...layerWriteOptions(solver.layerFormat),
                  signal: solver.signal,
                });
                return {
                  layer,
                  descriptor: { mediaType: info.mediaType, digest: info.digest, size: info.size },
                  diffID: info.diffID,
                };
              }
              for (const d of outDirs) {
                if (!existsSync(join(appRoot, d)))
                  throw new GantryError('NODE_BUILD_OUTPUT_MISSING', `the build script made no ${d}`, {
                    phase: 'build',
                    suggestion:
                      'set build-output (gantry.toml, or "gantry" in package.json) to the directory the build writes',
                  });
              }
              const entries = walkDirectory(appRoot, {
                prefix: APP_DIR.slice(1),
                filter: (rel) => underOrAbove(rel, outDirs),
                mtime: b.epoch,
                signal: solver.signal,
              });
              const { info, layer } = await solver.store.writeLayer(entries, {
                ...layerWriteOptions(solver.layerFormat),
                signal: solver.signal,
              });
              return {
                layer,
                descriptor: { mediaType: info.mediaType, digest: info.digest, size: info.size },
                diffID: info.diffID,
              };
            },
            io,
          ),
      });
    }
    if (output.layer)
      added.push({
        layer: output.layer,
        createdBy: `COPY ${outDirs.join(' ')} ${APP_DIR}/ # gantry node: build output`,
      });
  }
  const app = await directoryLayer(solver, {
    root: plan.root,
    dest: APP_DIR,
    parent: 'directory',
    filter: plan.nextStandalone ? publicOnly(await appFilter(plan, outDirs), plan.dir) : await appFilter(plan, outDirs),
    mtime: b.epoch,
    name: `COPY app files ${APP_DIR}`,
  });
  if (app.layer) added.push({ layer: app.layer, createdBy: `COPY . ${APP_DIR}/ # gantry node: app files` });
  const user =
    options.user ?? plan.user ?? (baseEnv.some((e) => e.startsWith('NODE_VERSION=')) ? NODE_IMAGE_USER : DEFAULT_USER);
  const env: Record<string, string> = {};
  for (const pair of [...plan.env, ...(options.env ?? [])]) {
    const eq = pair.indexOf('=');
    if (eq > 0) env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  const cmd = execForm(options.cmd ?? plan.cmd, 'cmd');
  const settings = {
    env,
    workdir: options.workdir ?? plan.workdir,
    user,
    labels: { ...plan.labels, ...(options.labels ?? {}) },
    ports: options.expose && options.expose.length > 0 ? options.expose : plan.ports,
    entrypoint: execForm(
      options.entrypoint ??
        (plan.entryWhy !== 'given' && plan.entrypoint[0] === 'node'
          ? [probe.node, ...plan.entrypoint.slice(1)]
          : plan.entrypoint),
      'entrypoint',
    ) as readonly string[],
    ...(cmd ? { cmd } : {}),
    created: b.created,
  };
  return newImage(
    {
      base,
      created: b.created,
      layers: added.map((a) => ({ layer: a.layer, history: { created: b.created, created_by: a.createdBy } })),
      config: (cfg) => projectImageConfig(cfg, settings),
      mediaType: options.mediaType ?? 'oci',
    },
    io,
  );
}

/** A secret given as `--secret id=ca,src=FILE` (or env=VAR): an extra CA, as --ca-cert. */
async function caSecret(options: ProjectBuildOptions): Promise<string[]> {
  const ca = options.secrets?.ca;
  if (!ca) return [];
  if ('file' in ca) return [ca.file];
  const value = (options.environment ?? process.env)[ca.env];
  if (!value) return [];
  // A PEM in a variable: written to a private temp file, read by installSecrets like any other CA.
  const dir = await mkdtemp(join(tmpdir(), 'gantry-ca-'));
  await writeFile(join(dir, 'ca.pem'), value, { mode: 0o600 });
  return [join(dir, 'ca.pem')];
}

function planInput(options: ProjectBuildOptions) {
  return {
    context: options.context,
    ...(options.from !== undefined ? { from: options.from } : {}),
    ...(options.workspace !== undefined ? { workspace: options.workspace } : {}),
    ...(options.buildOn !== undefined ? { buildOn: options.buildOn } : {}),
    ...(options.entrypoint !== undefined ? { entrypoint: options.entrypoint } : {}),
    ...(options.cmd !== undefined ? { cmd: options.cmd } : {}),
    ...(options.user !== undefined ? { user: options.user } : {}),
    ...(options.expose && options.expose.length > 0 ? { expose: options.expose } : {}),
    ...(options.environment ? { processEnv: options.environment } : {}),
  };
}

/** Builds a Node.js project for every requested platform. */
export async function buildNode(options: ProjectBuildOptions): Promise<ProjectBuildResult & { node: NodePlan }> {
  const plan = await planNode(planInput(options));
  const env = options.environment ?? process.env;
  const solver = new Solver({
    ...(options.layerFormat ? { layerFormat: options.layerFormat } : {}),
    store: options.store,
    client: options.client,
    ...(options.progress ? { progress: options.progress } : {}),
    ...(options.mirrors ? { mirrors: options.mirrors } : {}),
    ...(options.isolation ? { isolation: options.isolation } : {}),
    ...(options.noCache ? { noCache: true } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const platforms = options.platforms && options.platforms.length > 0 ? options.platforms : [hostPlatform()];
  // The base is asked for now (its manifest and config, or one HEAD when the store keeps them),
  // while the secrets and the source date are gathered; buildFor awaits the same answer.
  solver.image(plan.base.ref, platforms[0] as Platform);
  const caFromSecret = await caSecret(options);
  const secrets = await installSecrets({
    root: plan.root,
    caCerts: [...(options.caCerts ?? []), ...caFromSecret],
    env,
  });
  try {
    const epoch = await sourceEpoch(plan.root, env, join(options.store.dir, 'cache'));
    const b: PlatformBuild = {
      solver,
      plan,
      secrets,
      cacheDir: join(options.store.dir, 'cache', 'mounts', 'gantry-node'),
      epoch: epoch.seconds,
      created: epoch.created,
      options,
    };
    const images: { image: Image; platform: Platform }[] = [];
    // One platform at a time: installs are CPU- and network-bound, and foreign ones run under qemu.
    for (const platform of platforms) images.push({ image: await buildFor(b, platform), platform });
    const first = images[0] as { image: Image };
    const item =
      images.length === 1
        ? first.image
        : await newIndex(images, {
            ...(options.signal ? { signal: options.signal } : {}),
            mediaType: options.mediaType ?? 'oci',
          });
    return { item, platforms, plan: projectPlanOf(plan, platforms.map(formatPlatform)), node: plan };
  } finally {
    await secrets.dispose();
    for (const f of caFromSecret)
      if (posix.basename(posix.dirname(f)).startsWith('gantry-ca-'))
        await rm(posix.dirname(f), { recursive: true, force: true });
  }
}

/** The plan without building (`--dry-run`): nothing is fetched. */
export async function planNodeProject(options: ProjectBuildOptions): Promise<ProjectPlan> {
  const plan = await planNode(planInput(options));
  const outDirs = plan.builds.map((o) => posix.join(o.dir, o.output));
  const filter = await appFilter(plan, outDirs);
  const counted = await countFiles(plan.root, plan.nextStandalone ? publicOnly(filter, plan.dir) : filter, options);
  const platforms = (options.platforms && options.platforms.length > 0 ? options.platforms : [hostPlatform()]).map(
    formatPlatform,
  );
  return projectPlanOf(plan, platforms, counted);
}

/** The Node.js project front end (registered in src/api/build.ts). */
export const nodeFrontEnd: ProjectFrontEnd = { plan: planNodeProject, build: buildNode };
