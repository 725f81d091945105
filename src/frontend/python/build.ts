/**
 * The Python front end: a project without a Dockerfile becomes, on its base, (1) a dependency
 * layer installed by the base's pip in the sandbox (deps.ts), keyed only on dependency inputs,
 * and (2) the application layer (the project files, through the directory-layer machinery, keyed
 * on their contents and reused whatever is below it), with an exec-form entrypoint, a non-root
 * user and the project's settings. The plan is computed first and is also what `--dry-run` shows.
 */
import { join, resolve } from 'node:path';
import { cacheKey } from '../../engine/solver/keys.js';
import { Solver } from '../../engine/solver/solver.js';
import { GantryError } from '../../errors.js';
import type { Image } from '../../oci/image.js';
import { newImage, newIndex } from '../../oci/mutate.js';
import { formatPlatform, hostPlatform, parsePlatform, platformMatches } from '../../oci/platform.js';
import type { Platform } from '../../oci/types.js';
import { directoryLayer } from '../directory.js';
import {
  chooseBase,
  countFiles,
  DEFAULT_USER,
  defaultBaseFor,
  execForm,
  type FileFilter,
  loadProjectConfig,
  type PlanDecision,
  type ProjectBuildOptions,
  type ProjectBuildResult,
  type ProjectFrontEnd,
  type ProjectPlan,
  projectFiles,
  projectImageConfig,
  sourceEpoch,
} from '../project/index.js';
import { installPlace, probePythonBase } from './base.js';
import { dependencyStep, type IndexSettings, redactUrl, resolveFindLinks, VENV } from './deps.js';
import { chooseEntrypoint } from './entrypoint.js';
import { type PythonProject, readPythonProject } from './project.js';
import { checkVirtualEnv, readVirtualEnv, type VirtualEnv, venvRelocation } from './venv.js';
import { pythonVersion } from './version.js';
import { wheelStep } from './wheel.js';

/** Where `--dry-run` says the install runs (the base is looked into only by a build). */
function installWhere(base: string, version: string): string {
  return base === defaultBaseFor('python', version)
    ? 'in the base'
    : `in the base, or in ${defaultBaseFor('python', version)} if the base has no pip`;
}

function installWhy(base: string, version: string): string {
  return base === defaultBaseFor('python', version)
    ? `${base} has pip: the dependencies are installed by the base's own Python`
    : `the build looks into ${base} once: with pip, it installs; without (distroless, shell-less) the tools image python:<its version>-slim does, and only ${VENV} is copied onto the base, pointed at its interpreter`;
}

interface Prepared {
  readonly context: string;
  readonly plan: ProjectPlan;
  readonly project: PythonProject;
  readonly filter: FileFilter;
  readonly index: IndexSettings;
  readonly withDeps: boolean;
  /** `--venv`: an existing virtual environment packed at /opt/venv instead of installing. */
  readonly venv?: VirtualEnv;
  /** `--wheel`: the project's build system; the project is installed as a wheel instead of copied. */
  readonly wheel?: NonNullable<PythonProject['buildSystem']>;
  /** The entrypoint was chosen by gantry (not given): `python3` may become the base's interpreter by path. */
  readonly chosenEntrypoint: boolean;
  readonly platforms: readonly Platform[];
  readonly labels: Readonly<Record<string, string>>;
  readonly epoch: { readonly seconds: number; readonly created: string };
}

function words(value: string | undefined): string[] {
  return (value ?? '').split(/\s+/).filter(Boolean);
}

function pairs(list: readonly string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of list ?? []) {
    const eq = p.indexOf('=');
    if (eq <= 0)
      throw new GantryError('INVALID_ENV', `invalid environment variable ${JSON.stringify(p)}`, {
        phase: 'usage',
        suggestion: 'give KEY=VALUE',
      });
    out[p.slice(0, eq)] = p.slice(eq + 1);
  }
  return out;
}

async function prepare(options: ProjectBuildOptions): Promise<Prepared> {
  const context = resolve(options.context);
  // An empty variable is an unset one (PIP_INDEX_URL= turns a setting off, as pip reads it).
  const env = Object.fromEntries(
    Object.entries(options.environment ?? process.env).filter(([, v]) => v !== undefined && v !== ''),
  );
  const decisions: PlanDecision[] = [];
  const decide = (topic: string, value: string, why: string) => decisions.push({ topic, value, why });
  decide('frontend', 'python', options.detection?.why ?? 'a Python project');
  const loaded = await loadProjectConfig(context, 'python');
  const cfg = loaded.config;
  if (loaded.source) decide('config', loaded.source, 'the project configuration (flags win over it)');
  const project = await readPythonProject(context);
  const version = pythonVersion({
    ...(cfg.python?.version ? { configured: cfg.python.version } : {}),
    ...(project.pinnedPython ? { pinned: project.pinnedPython } : {}),
    ...(project.requiresPython ? { requiresPython: project.requiresPython } : {}),
  });
  decide('python', version.value, version.why);
  const base = chooseBase({
    kind: 'python',
    ...(options.from ? { flag: options.from } : {}),
    config: { ...(cfg.base ? { base: cfg.base } : {}), ...(loaded.source ? { source: loaded.source } : {}) },
    version,
    env,
  });
  decide('base', base.ref, base.why);
  const epoch = await sourceEpoch(context, env, join(options.store.dir, 'cache'));
  decide('timestamps', epoch.created, epoch.why);

  const wantWheel = options.wheel ?? cfg.wheel ?? false;
  if (wantWheel && options.venv !== undefined) {
    throw new GantryError('USAGE', '--wheel and --venv contradict each other', {
      phase: 'usage',
      suggestion:
        '--venv packs an existing environment as it is; --wheel installs the project into the one gantry makes: give one',
    });
  }
  if (wantWheel && !project.buildSystem) {
    throw new GantryError('PYTHON_NOT_A_PACKAGE', `--wheel: ${context} is not a Python package`, {
      phase: 'config',
      suggestion:
        'a wheel needs pyproject.toml with [build-system] or [project], setup.py or setup.cfg; or build without --wheel (the files are copied)',
    });
  }
  const wheel = wantWheel ? project.buildSystem : undefined;
  if (wheel)
    decide(
      'wheel',
      wheel.backend,
      `--wheel${options.wheel ? '' : ` (wheel in ${loaded.source})`}: the build backend of ${wheel.from}`,
    );
  const explicit = execForm(options.entrypoint ?? cfg.entrypoint, options.entrypoint ? '--entrypoint' : 'entrypoint');
  const cmd = execForm(options.cmd ?? cfg.cmd, options.cmd ? '--cmd' : 'cmd');
  let entrypoint: readonly string[];
  let ports: readonly string[];
  if (explicit) {
    entrypoint = explicit;
    ports = [];
    decide(
      'entrypoint',
      JSON.stringify(explicit),
      options.entrypoint ? '--entrypoint' : `entrypoint in ${loaded.source}`,
    );
  } else {
    const chosen = await chooseEntrypoint(context, project);
    // An installed wheel has its console script in the venv: run that, as `pip install` users do.
    entrypoint = wantWheel && chosen.script ? [`${VENV}/bin/${chosen.script}`] : chosen.entrypoint;
    ports = chosen.ports;
    decide('entrypoint', JSON.stringify(entrypoint), chosen.why);
  }
  if (options.expose && options.expose.length > 0) {
    ports = options.expose;
    decide('ports', ports.join(', '), '--expose');
  } else if (cfg.ports) {
    ports = cfg.ports;
    decide('ports', ports.join(', '), `ports in ${loaded.source}`);
  } else if (ports.length > 0) decide('ports', ports.join(', '), 'the framework default');
  const user = options.user ?? cfg.user ?? DEFAULT_USER;
  decide(
    'user',
    user,
    options.user ? '--user' : cfg.user ? `user in ${loaded.source}` : 'non-root by default (65532, distroless nonroot)',
  );
  const workdir = options.workdir ?? cfg.workdir ?? '/app';

  // Index settings: flags, then PIP_* from the environment, then the configuration, then the requirements file.
  const index: IndexSettings = {
    ...((options.indexUrl ?? env.PIP_INDEX_URL ?? cfg.indexUrl ?? project.index.indexUrl) !== undefined
      ? { indexUrl: (options.indexUrl ?? env.PIP_INDEX_URL ?? cfg.indexUrl ?? project.index.indexUrl) as string }
      : {}),
    extraIndexUrls: options.extraIndexUrls?.length
      ? options.extraIndexUrls
      : env.PIP_EXTRA_INDEX_URL
        ? words(env.PIP_EXTRA_INDEX_URL)
        : (cfg.extraIndexUrls ?? project.index.extraIndexUrls),
    findLinks: resolveFindLinks(
      context,
      options.findLinks?.length
        ? options.findLinks
        : env.PIP_FIND_LINKS
          ? words(env.PIP_FIND_LINKS)
          : (cfg.findLinks ?? project.index.findLinks),
    ),
    noIndex: project.index.noIndex || /^(1|true|yes|on)$/i.test(env.PIP_NO_INDEX ?? ''),
  };
  const noDeps = options.noDeps ?? cfg.noDeps ?? false;
  if (options.venv !== undefined && options.noDeps) {
    throw new GantryError('USAGE', '--venv and --no-deps contradict each other', {
      phase: 'usage',
      suggestion: '--venv packs a dependency layer; --no-deps leaves it out: give one',
    });
  }
  const venv = options.venv === undefined ? undefined : await readVirtualEnv(options.venv);
  const withDeps = !venv && !noDeps && project.dependencies.length > 0;

  const projectEnv: Record<string, string> = {
    PYTHONUNBUFFERED: '1',
    PYTHONDONTWRITEBYTECODE: '1',
    // An installed wheel is imported from the venv; the sources on the path would shadow it.
    ...(wheel ? {} : { PYTHONPATH: project.srcLayout ? `${workdir}/src:${workdir}` : workdir }),
    ...(withDeps || venv || wheel ? { VIRTUAL_ENV: VENV } : {}),
    ...(cfg.env ?? {}),
    ...pairs(options.env),
  };
  const labels: Record<string, string> = {
    ...(project.name ? { 'org.opencontainers.image.title': project.name } : {}),
    ...(project.version ? { 'org.opencontainers.image.version': project.version } : {}),
    ...(cfg.labels ?? {}),
    ...(options.labels ?? {}),
  };

  const { filter: ignoreFilter, ignoreFiles } = await projectFiles(context, {
    ...(cfg.exclude ? { exclude: cfg.exclude } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const include = (cfg.include ?? []).map((p) => p.replace(/^\.?\/+/, '').replace(/\/+$/, ''));
  const filter: FileFilter = (rel, st) =>
    ignoreFilter(rel, st) || include.some((p) => rel === p || rel.startsWith(`${p}/`) || p.startsWith(`${rel}/`));
  const counted = await countFiles(context, filter, options);

  const platforms =
    options.platforms && options.platforms.length > 0
      ? options.platforms
      : cfg.platforms
        ? cfg.platforms.map((p) => parsePlatform(p))
        : [hostPlatform()];
  const layers = [];
  if (venv) {
    for (const platform of platforms) checkVirtualEnv(venv, platform, version.value, options.venv ?? '');
    const archs = [...venv.machines.keys()];
    layers.push({
      name: `dependencies: the virtual environment ${venv.root} -> ${VENV} (--venv)`,
      why: `Python ${venv.version}, ${archs.length > 0 ? `compiled files for ${archs.join(', ')}` : 'no compiled files'}; packed as it is, nothing installed`,
    });
  } else if (withDeps) {
    const where = [
      index.indexUrl ? `index ${redactUrl(index.indexUrl)}` : undefined,
      index.findLinks.length > 0 ? `find-links ${index.findLinks.length}` : undefined,
    ].filter(Boolean);
    layers.push({
      name: `dependencies: pip install into ${VENV} (system site-packages visible)`,
      why: `${project.dependencies.length} requirement(s) from ${project.dependencySource}${where.length ? `; ${where.join(', ')}` : ''}; rebuilt only when they change; installed ${installWhere(base.ref, version.value)}`,
    });
    decide('install', installWhere(base.ref, version.value), installWhy(base.ref, version.value));
  } else {
    decide(
      'dependencies',
      'none',
      noDeps ? (options.noDeps ? '--no-deps' : `no-deps in ${loaded.source}`) : 'the project declares no dependencies',
    );
  }
  const less = ignoreFiles.length > 0 ? `, less ${ignoreFiles.join(' and ')}` : '';
  layers.push(
    wheel
      ? {
          name: `project wheel: pip wheel ${context} -> installed into ${VENV}`,
          files: counted.files,
          bytes: counted.bytes,
          why: `the project files${less}, built by ${wheel.backend} (${wheel.from}) from the base; rebuilt only when they change`,
        }
      : {
          name: `application: ${context} -> ${workdir}`,
          files: counted.files,
          bytes: counted.bytes,
          why: `the project files${less}; reused whatever is below it`,
        },
  );
  const plan: ProjectPlan = {
    frontend: 'python',
    base: base.ref,
    platforms: platforms.map(formatPlatform),
    layers,
    entrypoint,
    ...(cmd ? { cmd } : {}),
    ports,
    user,
    workdir,
    env: projectEnv,
    decisions,
  };
  return {
    context,
    plan,
    project,
    filter,
    index,
    withDeps,
    ...(venv ? { venv } : {}),
    ...(wheel ? { wheel } : {}),
    chosenEntrypoint: !explicit,
    platforms,
    labels,
    epoch,
  };
}

async function build(options: ProjectBuildOptions): Promise<ProjectBuildResult> {
  const p = await prepare(options);
  const { plan } = p;
  const solver = new Solver({
    ...(options.layerFormat ? { layerFormat: options.layerFormat } : {}),
    store: options.store,
    client: options.client,
    ...(options.mirrors ? { mirrors: options.mirrors } : {}),
    ...(options.progress ? { progress: options.progress } : {}),
    ...(options.isolation ? { isolation: options.isolation } : {}),
    ...(options.noCache ? { noCache: true } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const io = options.signal ? { signal: options.signal } : {};
  const env = options.environment ?? process.env;
  const images: { image: Image; platform: Platform }[] = [];
  /** What only the build learns (where the install ran, the base's interpreter), for the plan it returns. */
  const extra: PlanDecision[] = [];
  // The application layer first: its key needs no base, and a failure here costs no pull.
  const app = await directoryLayer(solver, {
    root: p.context,
    dest: plan.workdir,
    parent: 'python application',
    detached: true,
    name: `COPY . ${plan.workdir}`,
    filter: p.filter,
    mtime: p.epoch.seconds,
  });
  if (!app.layer) throw new GantryError('NO_LAYER', 'the project made no application layer', { phase: 'build' });
  const packed = p.venv
    ? await directoryLayer(solver, {
        root: p.venv.root,
        dest: VENV,
        parent: 'python venv',
        detached: true,
        name: `COPY ${p.venv.root} ${VENV}`,
        // Byte-code caches are rebuilt by the interpreter; they would only make the digest vary.
        filter: (rel) => !/(^|\/)__pycache__$/.test(rel),
        mtime: p.epoch.seconds,
        // Console scripts name the venv's host path in their shebang: they must name /opt/venv.
        transform: venvRelocation(p.venv.root, VENV),
      })
    : undefined;
  for (const platform of p.platforms) {
    const base = await solver.source(['image', plan.base, formatPlatform(platform)], `FROM ${plan.base}`, async () => {
      try {
        return await solver.image(plan.base, platform);
      } catch (err) {
        if (!GantryError.is(err)) throw err;
        throw new GantryError(err.code, `base image ${plan.base}: ${err.message}`, {
          phase: err.phase,
          suggestion: err.suggestion ?? 'give another base with --from or $GANTRY_PYTHON_BASE',
          cause: err,
        });
      }
    });
    const baseConfig = await base.configFile(io);
    const own: Platform = {
      os: baseConfig.os,
      architecture: baseConfig.architecture,
      ...(baseConfig.variant ? { variant: baseConfig.variant } : {}),
    };
    if (!platformMatches(platform, own)) {
      throw new GantryError(
        'BASE_PLATFORM_MISMATCH',
        `base image ${plan.base} is ${formatPlatform(own)}, not ${formatPlatform(platform)}`,
        {
          phase: 'build',
          suggestion: `use a base image for ${formatPlatform(platform)}, or a multi-platform one`,
        },
      );
    }
    const baseEnv = baseConfig.config?.Env ?? [];
    const layers = [];
    if (packed?.layer) {
      layers.push({
        layer: packed.layer,
        history: { created_by: `COPY ${p.venv?.root} ${VENV} # gantry python --venv` },
      });
    }
    const baseKey = cacheKey(['image', await base.digest(io)]);
    const pyVersion = plan.decisions.find((d) => d.topic === 'python')?.value ?? '';
    const cacheDir = join(options.store.dir, 'cache');
    const bareEntry = p.chosenEntrypoint && plan.entrypoint[0] === 'python3' && !p.withDeps && !p.wheel && !p.venv;
    // Installs run where pip is: the base, or (distroless, shell-less) the tools image for it.
    const place =
      p.withDeps || p.wheel
        ? await installPlace(solver, { ref: plan.base, image: base, key: baseKey }, platform, pyVersion, cacheDir, io)
        : undefined;
    if (place?.tools) {
      extra.push({ topic: 'install', value: `in the tools image ${place.tools.ref}`, why: place.tools.why });
    } else if (place) {
      extra.push({ topic: 'install', value: 'in the base', why: 'the base has pip and the venv module' });
    }
    const tools = place?.tools;
    // No python3 on the base's PATH and no venv to put one there: the entrypoint names it by path.
    const probed = bareEntry
      ? await probePythonBase(
          solver.fs,
          { digest: await base.digest(io), layers: () => base.layers(io), cfg: baseConfig },
          cacheDir,
          io,
        )
      : undefined;
    const python = probed && !probed.onPath ? probed.python : undefined;
    const entrypoint = python ? [python, ...plan.entrypoint.slice(1)] : plan.entrypoint;
    if (python)
      extra.push({
        topic: 'entrypoint',
        value: JSON.stringify(entrypoint),
        why: `python3 is not on the PATH of ${plan.base}`,
      });
    const runOn = place ?? { key: baseKey, layers: await base.layers(io), env: baseEnv };
    let below = { chain: runOn.key, layers: runOn.layers };
    if (p.withDeps) {
      const deps = await dependencyStep(
        solver,
        runOn.key,
        below.layers,
        runOn.env,
        {
          requirements: p.project.dependencies,
          constraints: p.project.constraints,
          index: p.index,
          platform,
          pythonVersion: pyVersion,
          secrets: options.secrets ?? {},
          environment: env,
          ...(tools ? { tools } : {}),
        },
        { sourceDateEpoch: p.epoch.seconds, ...(options.isolation ? { isolation: options.isolation } : {}) },
      );
      if (deps.layer) below = { chain: deps.chain, layers: [...below.layers, deps.layer] };
      if (deps.layer) {
        layers.push({
          layer: deps.layer,
          history: {
            created_by: `RUN python3 -m venv --system-site-packages ${VENV} && pip install -r requirements.txt # gantry python: ${p.project.dependencySource}${tools ? ` (in the tools image ${tools.ref})` : ''}`,
          },
        });
      }
    }
    if (p.wheel) {
      const installed = await wheelStep(
        solver,
        below.chain,
        [...below.layers, app.layer],
        runOn.env,
        {
          appKey: app.key,
          source: plan.workdir,
          backend: p.wheel.backend,
          backendFrom: p.wheel.from,
          requires: p.wheel.requires,
          platform,
          ...(tools ? { tools } : {}),
        },
        { sourceDateEpoch: p.epoch.seconds, ...(options.isolation ? { isolation: options.isolation } : {}) },
      );
      if (!installed.layer)
        throw new GantryError('NO_LAYER', 'installing the project wheel changed no file', { phase: 'build' });
      layers.push({
        layer: installed.layer,
        history: {
          created_by: `RUN pip wheel --no-deps --no-build-isolation . && pip install --no-deps *.whl # gantry python --wheel (${p.wheel.backend})`,
        },
      });
    } else layers.push({ layer: app.layer, history: { created_by: `COPY . ${plan.workdir} # gantry python` } });
    const basePath =
      baseEnv.find((e) => e.startsWith('PATH='))?.slice(5) ??
      '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
    const image = await newImage(
      {
        base,
        layers,
        created: p.epoch.created,
        config: (cfg) =>
          projectImageConfig(cfg, {
            env: { ...(p.withDeps || p.venv || p.wheel ? { PATH: `${VENV}/bin:${basePath}` } : {}), ...plan.env },
            workdir: plan.workdir,
            user: plan.user,
            labels: p.labels,
            ports: plan.ports,
            entrypoint,
            ...(plan.cmd ? { cmd: plan.cmd } : {}),
            created: p.epoch.created,
          }),
        mediaType: options.mediaType ?? 'oci',
      },
      io,
    );
    images.push({ image, platform });
  }
  const first = images[0];
  if (!first) throw new GantryError('NO_PLATFORM', 'no platform to build', { phase: 'build' });
  const item =
    images.length === 1 ? first.image : await newIndex(images, { ...io, mediaType: options.mediaType ?? 'oci' });
  const learnt = extra.filter((d, i) => extra.findIndex((x) => x.topic === d.topic && x.value === d.value) === i);
  const entry = learnt.find((d) => d.topic === 'entrypoint');
  return {
    item,
    platforms: p.platforms,
    plan: {
      ...plan,
      ...(entry ? { entrypoint: JSON.parse(entry.value) as string[] } : {}),
      decisions: [...plan.decisions.filter((d) => !learnt.some((x) => x.topic === d.topic)), ...learnt],
    },
  };
}

/** The Python front end, as src/api/build.ts registers it. */
export const pythonFrontEnd: ProjectFrontEnd = {
  plan: async (options) => (await prepare(options)).plan,
  build,
};
