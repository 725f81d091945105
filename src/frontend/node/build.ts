/**
 * A Node.js project as an image, through the solver: (1) production dependencies installed from
 * the lockfile in the base for the target platform, keyed only on what decides them (the
 * install manifest and lockfile, the package manager command, the base, the platform), so a
 * source change reuses it; (2) the build output when there is a build script, made in a build
 * stage on the base (devDependencies, the sources, `npm run build`) or taken from the host;
 * (3) the app files. Then the config: `node FILE` as entrypoint, ports, NODE_ENV=production, a
 * non-root user. Timestamps come from the source epoch, so the same source gives the same digest.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, posix } from 'node:path';
import { applyConfig, type ConfigOptions } from '../../engine/config.js';
import { FileHashCache } from '../../engine/context/index.js';
import type { Isolation } from '../../engine/executor/index.js';
import { Solver, type StepResult } from '../../engine/solver/solver.js';
import { GantryError, type IoOptions } from '../../errors.js';
import { sourceDateEpoch, walkDirectory } from '../../layer/walk.js';
import { createDigester } from '../../oci/digest.js';
import type { Image, ImageIndex, Layer } from '../../oci/image.js';
import { newImage, newIndex } from '../../oci/mutate.js';
import { formatPlatform, hostPlatform } from '../../oci/platform.js';
import type { Platform } from '../../oci/types.js';
import type { RegistryClient } from '../../registry/client/client.js';
import type { Store } from '../../store/store.js';
import type { ProgressSink } from '../../util/progress.js';
import { directoryLayer } from '../directory.js';
import { appFilesRule, projectIgnore } from './files.js';
import { APP_DIR, buildStep, type InstallPlan, installStep } from './install.js';
import { type NodePlan, type NodeProjectOptions, planNode } from './plan.js';
import { type InstallSecrets, installSecrets } from './secrets.js';

export interface NodeBuildOptions extends IoOptions, NodeProjectOptions {
  readonly context: string;
  readonly store: Store;
  readonly platforms?: readonly Platform[];
  readonly mediaType?: 'oci' | 'docker';
  readonly progress?: ProgressSink;
  readonly client?: () => Promise<RegistryClient>;
  /** registries.toml mirrors, tried before the base's registry. */
  readonly mirrors?: (registry: string) => Promise<readonly string[]>;
  readonly isolation?: Isolation;
  readonly labels?: Readonly<Record<string, string>>;
  readonly workdir?: string;
  /** Extra CA files for installs (`--ca-cert`). */
  readonly caCerts?: readonly string[];
  /** The host environment installs take credentials, CAs and proxies from (default process.env). */
  readonly processEnv?: NodeJS.ProcessEnv;
}

export interface NodeBuildResult {
  readonly item: Image | ImageIndex;
  readonly platforms: readonly Platform[];
  readonly plan: NodePlan;
}

function lastCommitTime(dir: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    execFile('git', ['-C', dir, 'log', '-1', '--format=%ct'], { timeout: 10_000 }, (err, stdout) => {
      const t = Number(stdout.trim());
      resolve(!err && stdout.trim() !== '' && Number.isInteger(t) && t >= 0 ? t : undefined);
    });
  });
}

/** SOURCE_DATE_EPOCH, else the last git commit's time, else 0: the time stamped on what the source makes. */
async function sourceEpoch(root: string, env: NodeJS.ProcessEnv): Promise<number> {
  return sourceDateEpoch(env) ?? (await lastCommitTime(root)) ?? 0;
}

function isoSeconds(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

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
  readonly hashes: FileHashCache;
  readonly secrets: InstallSecrets;
  readonly cacheDir: string;
  readonly epoch: number;
  readonly options: NodeBuildOptions;
}

async function buildFor(b: PlatformBuild, platform: Platform): Promise<Image> {
  const { solver, plan, options } = b;
  const base = await solver.source(
    ['node base', plan.base.ref, formatPlatform(platform)],
    `resolve base ${plan.base.ref}`,
    () => solver.image(plan.base.ref, platform),
  );
  const baseLayers = await base.layers(options);
  const baseCfg = await base.configFile(options);
  const baseEnv = baseCfg.config?.Env ?? [];
  const parent = `node-base:${await base.digest(options)}`;
  const run = { platform, env: baseEnv, secrets: b.secrets, cacheDir: b.cacheDir, mtime: 0 };
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
      run: (step) => installStep(baseLayers, p, { ...run, log: (l) => step.log(l) }, solver.context),
    });
  const deps = await install(plan.install, 'install dependencies');
  const added: { layer: Layer; createdBy: string }[] = [];
  if (deps.layer) added.push({ layer: deps.layer, createdBy: `RUN ${plan.install.shown} # gantry node: dependencies` });
  const { matcher: ignore } = await projectIgnore(plan.root);
  const outDirs = plan.builds.map((o) => posix.join(o.dir, o.output));
  if (plan.builds.length > 0) {
    let output: StepResult;
    if (plan.buildOn === 'host') {
      for (const d of outDirs) {
        if (!existsSync(join(plan.root, d)))
          throw new GantryError('NODE_BUILD_OUTPUT_MISSING', `--build-on host: ${d} does not exist`, {
            phase: 'build',
            suggestion: `run the build script on the host first (${plan.pm.name} run build), or build in the container`,
          });
      }
      output = await directoryLayer(solver, b.hashes, {
        root: plan.root,
        prefix: APP_DIR.slice(1),
        filter: (rel) => underOrAbove(rel, outDirs),
        filterId: JSON.stringify(['node-output', outDirs]),
        mtime: b.epoch,
        name: `COPY ${outDirs.join(' ')} (built on the host)`,
      });
    } else {
      const dev = await install(plan.devInstall as InstallPlan, 'install build dependencies');
      const rule = appFilesRule(ignore, undefined, outDirs, { tests: true });
      const src = await directoryLayer(solver, b.hashes, {
        root: plan.root,
        prefix: APP_DIR.slice(1),
        filter: rule.filter,
        filterId: rule.id,
        mtime: b.epoch,
        name: 'COPY sources for the build',
      });
      const runs = plan.builds.map((o) => ({ dir: o.dir, argv: ['npm', 'run', 'build'] }));
      const stage = [...baseLayers, ...(dev.layer ? [dev.layer] : []), ...(src.layer ? [src.layer] : [])];
      const built = await solver.step({
        parent: dev.chain,
        inputs: ['node-build v1', src.diffID ?? 'none', JSON.stringify(runs), formatPlatform(platform)],
        name: `build: ${runs.map((r) => `${r.dir || '.'}: npm run build`).join(', ')}`,
        run: (step) => buildStep(stage, runs, { ...run, mtime: b.epoch, log: (l) => step.log(l) }, solver.context),
      });
      const all = [...stage, ...(built.layer ? [built.layer] : [])];
      output = await solver.step({
        parent: built.chain,
        inputs: ['node-output v1', JSON.stringify(outDirs)],
        name: `COPY --from=build ${outDirs.join(' ')}`,
        run: () =>
          solver.fs.with(
            all,
            async (snapshot) => {
              const appRoot = join(snapshot.root, APP_DIR);
              for (const d of outDirs) {
                if (!existsSync(join(appRoot, d)))
                  throw new GantryError('NODE_BUILD_OUTPUT_MISSING', `the build script made no ${d}`, {
                    phase: 'build',
                    suggestion: 'set "gantry": {"buildOutput": "DIR"} to the directory the build writes',
                  });
              }
              const entries = walkDirectory(appRoot, {
                prefix: APP_DIR.slice(1),
                filter: (rel) => underOrAbove(rel, outDirs),
                mtime: b.epoch,
                signal: solver.signal,
              });
              const { info, layer } = await solver.store.writeLayer(entries, { signal: solver.signal });
              return {
                layer,
                descriptor: { mediaType: info.mediaType, digest: info.digest, size: info.size },
                diffID: info.diffID,
              };
            },
            options,
          ),
      });
    }
    if (output.layer)
      added.push({
        layer: output.layer,
        createdBy: `COPY ${outDirs.join(' ')} ${APP_DIR}/ # gantry node: build output`,
      });
  }
  const app = await appLayer(b, ignore, outDirs);
  if (app.layer) added.push({ layer: app.layer, createdBy: `COPY . ${APP_DIR}/ # gantry node: app files` });
  const user = plan.user ?? (baseEnv.some((e) => e.startsWith('NODE_VERSION=')) ? 'node' : '1000:1000');
  const config: ConfigOptions = {
    workdir: options.workdir ?? plan.workdir,
    entrypoint: plan.entrypoint,
    ...(plan.cmd ? { cmd: plan.cmd } : {}),
    env: plan.env,
    user,
    expose: plan.ports,
    labels: options.labels ?? {},
  };
  const created = isoSeconds(b.epoch);
  return newImage(
    {
      base,
      created,
      layers: added.map((a) => ({ layer: a.layer, history: { created, created_by: a.createdBy } })),
      config: (cfg) => applyConfig(cfg, config),
      mediaType: options.mediaType ?? 'oci',
    },
    options,
  );
}

/** The app files: the package (or, for a workspace, the root manifest and the members it needs). */
async function appLayer(
  b: PlatformBuild,
  ignore: Awaited<ReturnType<typeof projectIgnore>>['matcher'],
  outDirs: readonly string[],
) {
  const { plan } = b;
  if (plan.needed.length === 0) {
    const rule = appFilesRule(ignore, plan.pkg.files, outDirs);
    return directoryLayer(b.solver, b.hashes, {
      root: plan.root,
      prefix: APP_DIR.slice(1),
      filter: rule.filter,
      filterId: rule.id,
      mtime: b.epoch,
      name: `COPY app files ${APP_DIR}`,
    });
  }
  const rules = plan.needed.map((m) => ({
    dir: m.dir,
    rule: appFilesRule(
      ignore,
      m.pkg.files,
      outDirs.filter((d) => d.startsWith(`${m.dir}/`)).map((d) => d.slice(m.dir.length + 1)),
    ),
  }));
  const filter = (rel: string, st: import('node:fs').Stats): boolean => {
    if (rel === 'package.json') return true;
    for (const { dir, rule } of rules) {
      if (rel === dir) return true;
      if (rel.startsWith(`${dir}/`)) return rule.filter(rel.slice(dir.length + 1), st);
    }
    return st.isDirectory() && rules.some(({ dir }) => dir.startsWith(`${rel}/`));
  };
  return directoryLayer(b.solver, b.hashes, {
    root: plan.root,
    prefix: APP_DIR.slice(1),
    filter,
    filterId: JSON.stringify(['node-workspace-app v1', rules.map((r) => [r.dir, r.rule.id]), outDirs]),
    mtime: b.epoch,
    name: `COPY workspace ${plan.needed.map((m) => m.dir).join(' ')} ${APP_DIR}`,
  });
}

/** Builds a Node.js project for every requested platform. */
export async function buildNode(options: NodeBuildOptions): Promise<NodeBuildResult> {
  const plan = await planNode(options);
  const env = options.processEnv ?? process.env;
  const solver = new Solver({
    store: options.store,
    ...(options.progress ? { progress: options.progress } : {}),
    ...(options.client ? { client: options.client } : {}),
    ...(options.mirrors ? { mirrors: options.mirrors } : {}),
    ...(options.isolation ? { isolation: options.isolation } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const hashes = await FileHashCache.open(join(options.store.dir, 'cache', 'context'), options);
  const secrets = await installSecrets({ root: plan.root, caCerts: options.caCerts ?? [], env });
  try {
    const b: PlatformBuild = {
      solver,
      plan,
      hashes,
      secrets,
      cacheDir: join(options.store.dir, 'cache', 'mounts', 'gantry-node'),
      epoch: await sourceEpoch(plan.root, env),
      options,
    };
    const platforms = options.platforms && options.platforms.length > 0 ? options.platforms : [hostPlatform()];
    const images: { image: Image; platform: Platform }[] = [];
    // One platform at a time: installs are CPU- and network-bound, and foreign ones run under qemu.
    for (const platform of platforms) images.push({ image: await buildFor(b, platform), platform });
    const first = images[0] as { image: Image };
    const item =
      images.length === 1
        ? first.image
        : await newIndex(images, { signal: options.signal, mediaType: options.mediaType ?? 'oci' });
    return { item, platforms, plan };
  } finally {
    await secrets.dispose();
    await hashes.save(options).catch(() => {});
  }
}
