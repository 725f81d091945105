/**
 * RUN: the command as BuildKit runs it (exec form, SHELL + script, or a heredoc file), its
 * environment, user, working directory, network and platform, and its `--mount`s. Everything
 * that decides the result goes into the key, bind mounts by the digest of the files they show;
 * the work runs in a sandbox on a snapshot of the stage.
 */
import { rm, stat } from 'node:fs/promises';
import { posix } from 'node:path';
import { planRun, type RunInstruction } from '../../dockerfile/index.js';
import { checksumSources } from '../../engine/context/index.js';
import { type BindMount, isolationFallback, resolveInRoot, type SecretFile } from '../../engine/executor/index.js';
import { planFrom, runStep } from '../../engine/solver/steps.js';
import { GantryError } from '../../errors.js';
import { formatPlatform } from '../../oci/platform.js';
import { runHistory } from './history.js';
import { cacheMountDir, type MountSpec, mountKey, parseMount, scratchMount, secretMount } from './mounts.js';
import { addHistory, containerConfig, type Dispatch, historyArgs, runEnv, shellOf, solveStep } from './state.js';

export async function run(d: Dispatch, instr: RunInstruction): Promise<void> {
  const { state, build } = d;
  const plan = planRun(instr);
  const specs = instr.mounts.map((m) => parseMount(m.fields, containerConfig(state).WorkingDir || '/', instr.line));
  // Bind mounts read files: their digests are inputs of the step, like a COPY's.
  const mountKeys: string[] = [];
  for (const spec of specs) {
    mountKeys.push(mountKey(spec));
    if (spec.type !== 'bind') continue;
    const namedDir = spec.from === undefined ? undefined : build.namedDir(spec.from);
    if (spec.from === undefined || namedDir !== undefined) {
      const planned = await planFrom(
        namedDir !== undefined ? { root: namedDir } : { root: build.context, ignore: build.ignore },
        { sources: [spec.source], dest: '/', workdir: '/', exclude: [], parents: false },
        build.solver.context,
      );
      mountKeys.push(await checksumSources(planned, { cache: build.hashes, signal: build.solver.signal }));
    } else {
      mountKeys.push((await build.fromSource(spec.from, d.stage, state.platform)).fromKey);
    }
  }
  const shell = shellOf(state);
  const args =
    plan.kind === 'exec'
      ? [...plan.argv]
      : plan.kind === 'shell'
        ? [...shell, plan.script]
        : [`/dev/pipes/${plan.name}`];
  const env = runEnv(state, build.buildArgs);
  const c = containerConfig(state);
  const cwd = c.WorkingDir || '/';
  const network = instr.network ?? 'default';
  const inputs = [
    'run',
    JSON.stringify(args),
    plan.kind === 'file' ? plan.content : '',
    JSON.stringify(env),
    c.User ?? '',
    cwd,
    network,
    formatPlatform(state.platform),
    ...mountKeys,
  ];
  // What BuildKit records: the argv, with SHELL in front of a heredoc file too (it runs it so).
  const shown = plan.kind === 'file' ? [...shell, args[0] as string] : args;
  const layers = [...state.layers];
  const added = await solveStep(d, {
    inputs,
    run: async (step) => {
      await noteFallbacks(d);
      return withMounts(d, specs, (mounts, secrets, extraEnv) =>
        runStep(
          layers,
          {
            args,
            env: [...env, ...extraEnv],
            cwd,
            ...(c.User ? { user: c.User } : {}),
            network,
            platform: state.platform,
            mounts,
            secrets,
            onOutput: (line) => step.log(line),
          },
          plan.kind === 'file' ? { name: plan.name, content: plan.content } : undefined,
          build.solver.context,
        ),
      );
    },
  });
  addHistory(d, runHistory(historyArgs(state), shown), !added);
}

/**
 * Says once per build when the machine made RUN fall back: no namespaces (the `none` sandbox in a
 * container) or no overlayfs (each step's root copied by the walk snapshotter).
 */
async function noteFallbacks(d: Dispatch): Promise<void> {
  const { solver } = d.build;
  if (solver.context.isolation === undefined) {
    const why = await isolationFallback();
    if (why) solver.warn(why, 'SANDBOX_FALLBACK');
  }
  if (await solver.context.fs.fellBack()) {
    solver.warn(
      'overlayfs cannot be mounted here: each RUN step copies its root (the walk snapshotter; slower on large images)',
      'SNAPSHOTTER_FALLBACK',
    );
  }
}

/** Prepares every RUN --mount for one run of the step, and takes it all down afterwards. */
async function withMounts<T>(
  d: Dispatch,
  specs: readonly MountSpec[],
  fn: (mounts: BindMount[], secrets: SecretFile[], env: string[]) => Promise<T>,
): Promise<T> {
  const { build } = d;
  const mounts: BindMount[] = [];
  const secrets: SecretFile[] = [];
  const env: string[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  try {
    for (const spec of specs) {
      if (spec.type === 'cache') mounts.push(await cacheMountDir(build.solver.store.dir, spec));
      else if (spec.type === 'tmpfs') {
        const { mount, dir } = await scratchMount(spec);
        cleanups.push(() => rm(dir, { recursive: true, force: true }));
        mounts.push(mount);
      } else if (spec.type === 'ssh') {
        const socket = build.options.sshSockets?.[spec.id];
        if (socket === undefined) {
          if (spec.required) {
            throw new GantryError(
              'SSH_MISSING',
              `the build needs ssh ${JSON.stringify(spec.id)}, which was not given`,
              {
                phase: 'build',
                suggestion: `pass --ssh ${spec.id === 'default' ? 'default' : `${spec.id}=SOCKET_OR_KEY`}`,
              },
            );
          }
          continue;
        }
        mounts.push({ source: socket, target: spec.target });
        // The first ssh mount is the agent a plain `ssh` finds, as in BuildKit.
        if (!env.some((e) => e.startsWith('SSH_AUTH_SOCK='))) env.push(`SSH_AUTH_SOCK=${spec.target}`);
      } else if (spec.type === 'secret') {
        const made = await secretMount(spec, build.options.secrets ?? {});
        if (made) secrets.push(made);
      } else {
        let root = build.context;
        const namedDir = spec.from === undefined ? undefined : build.namedDir(spec.from);
        if (namedDir !== undefined) root = namedDir;
        else if (spec.from !== undefined) {
          const { layers } = await build.fromSource(spec.from, d.stage, d.state.platform);
          const snapshot = await build.solver.fs.prepare(layers, { signal: build.solver.signal });
          cleanups.push(() => snapshot.release());
          root = snapshot.root;
        }
        // Resolved inside its root: a symlink in the source cannot reach the host.
        const source = posix.join(root, await resolveInRoot(root, spec.source));
        if (!(await stat(source).catch(() => undefined))) {
          throw new GantryError(
            'RUN_MOUNT_SOURCE_NOT_FOUND',
            `RUN --mount source ${spec.source} not found in ${spec.from ?? 'the build context'}`,
            { phase: 'build', suggestion: 'check the source= path' },
          );
        }
        mounts.push({ source, target: spec.target, readonly: true });
      }
    }
    return await fn(mounts, secrets, env);
  } finally {
    for (const c of cleanups.reverse()) await c();
  }
}
