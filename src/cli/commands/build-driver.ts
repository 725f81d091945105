/**
 * `gantry build --driver kubernetes[,…]`: the flags are checked here, the build runs as a Job
 * (src/integrations/kubernetes/driver.ts), and what the pod's gantry reports comes back as if the
 * build had run here: progress, NAME@DIGEST lines, the image id file, the exit code.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';
import { GantryError } from '../../errors.js';
import { KubeCluster } from '../../integrations/kubernetes/client.js';
import { buildOnCluster, parseDriver } from '../../integrations/kubernetes/driver.js';
import { parseReference } from '../../reference/index.js';
import { writeFileAtomic } from '../../util/fs.js';
import { flag, list, type Parsed, str } from '../args.js';
import { type CommandContext, usageError } from '../context.js';

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

/** Flags that name files or results on this machine, which a pod cannot use. */
const LOCAL_ONLY = ['secret', 'load', 'metadata-file'] as const;

/**
 * The arguments the pod's gantry gets: the command line as given, without the context (the pod
 * has its own copy), the driver, and the image id file (written here); `-f` made relative to the
 * context.
 */
export function podArgs(args: readonly string[], context: string, dockerfile: string | undefined): string[] {
  const out: string[] = [];
  let contextDropped = false;
  for (let i = args.length - 1; i >= 0; i--) {
    const a = args[i] as string;
    if (!contextDropped && a === context && !(args[i - 1] ?? '').startsWith('-')) {
      contextDropped = true;
      continue;
    }
    out.unshift(a);
  }
  const result: string[] = [];
  for (let i = 0; i < out.length; i++) {
    const a = out[i] as string;
    const valued = (names: readonly string[]): boolean => names.includes(a);
    if (valued(['--driver', '--iidfile'])) {
      i += 1;
      continue;
    }
    if (a.startsWith('--driver=') || a.startsWith('--iidfile=')) continue;
    if (valued(['-f', '--file'])) {
      result.push(a, inContext(context, dockerfile as string));
      i += 1;
      continue;
    }
    if (a.startsWith('--file=')) {
      result.push(`--file=${inContext(context, dockerfile as string)}`);
      continue;
    }
    result.push(a);
  }
  return result;
}

function inContext(context: string, file: string): string {
  const rel = relative(resolve(context), resolve(file));
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) {
    throw usageError(
      `-f ${file} is outside the context ${context}: the kubernetes driver sends only the context`,
      'move the Dockerfile into the context',
    );
  }
  return rel;
}

export async function buildWithDriver(args: readonly string[], p: Parsed, ctx: CommandContext): Promise<number> {
  const driver = parseDriver(str(p, 'driver') as string, version());
  const context = p.positionals[0] as string;
  for (const key of LOCAL_ONLY) {
    if (p.values[key] !== undefined) {
      throw usageError(`--${key} cannot be used with --driver kubernetes`, 'the build runs in a pod of the cluster');
    }
  }
  const outputs = list(p, 'output');
  if (outputs.some((o) => !/(^|,)type=registry(,|$)/.test(o))) {
    throw usageError(
      'file outputs (-o) cannot be used with --driver kubernetes',
      'push the image (--push or -o type=registry) and pull it',
    );
  }
  const tags = list(p, 'tag');
  if (!flag(p, 'push') && outputs.length === 0) {
    throw usageError(
      '--driver kubernetes builds in the cluster: the image must be pushed',
      'add -t REGISTRY/REPO:TAG --push',
    );
  }
  const forPod = podArgs(args, context, str(p, 'file'));
  // Where the image goes: -t names, else the name= of -o type=registry.
  const pushed = [...tags, ...outputs.flatMap((o) => /(?:^|,)name=([^,]+)/.exec(o)?.[1]?.split(/\s*;\s*/) ?? [])].map(
    (n) => parseReference(n),
  );
  // The registry caches of --cache-to/--cache-from, shared by the cluster's Jobs.
  const caches = [...list(p, 'cache-to'), ...list(p, 'cache-from')].flatMap((c) => {
    const ref = /(?:^|,)ref=([^,]+)/.exec(c)?.[1] ?? (c.includes('=') ? undefined : c);
    return ref && !/(?:^|,)type=(?!registry)/.test(c) ? [parseReference(ref)] : [];
  });
  // The credentials the push and the caches need, lent to the Job for its lifetime.
  const transport = await ctx.session.transport();
  const credentials = new Map<string, { username: string; password: string }>();
  for (const ref of [...pushed, ...caches]) {
    const host = ref.registry;
    if (credentials.has(host)) continue;
    const c = await transport.keychain?.resolve(host, { signal: ctx.signal });
    if (c?.username !== undefined && c.password !== undefined)
      credentials.set(host, { username: c.username, password: c.password });
  }
  const cluster = await KubeCluster.connect({
    ...(ctx.flags.kubeContext !== undefined ? { context: ctx.flags.kubeContext } : {}),
    purpose: 'cluster of --driver kubernetes',
    signal: ctx.signal,
  });
  const renderer = ctx.renderer();
  try {
    const outcome = await buildOnCluster({
      cluster,
      driver,
      context,
      args: forPod,
      credentials,
      ...(pushed[0]
        ? {
            contextRegistry: {
              repo: { registry: pushed[0].registry, repository: pushed[0].repository },
              client: () => ctx.session.client(renderer.sink),
            },
          }
        : {}),
      progress: renderer.sink,
      signal: ctx.signal,
      ...(process.env.GANTRY_DRIVER_POLL_MS ? { pollMs: Number(process.env.GANTRY_DRIVER_POLL_MS) } : {}),
    });
    renderer.close();
    const result = outcome.result ?? {};
    if (outcome.exitCode !== 0) {
      const error = result.error as { code?: string; message?: string; suggestion?: string } | undefined;
      throw new GantryError(
        error?.code === 'USAGE' ? 'USAGE' : 'DRIVER_BUILD_FAILED',
        `the build failed in job ${outcome.namespace}/${outcome.job} (exit ${outcome.exitCode})${error?.message ? `: ${error.message}` : ''}`,
        {
          phase: error?.code === 'USAGE' ? 'usage' : 'build',
          suggestion: error?.suggestion ?? `read its log: kubectl -n ${outcome.namespace} logs job/${outcome.job}`,
        },
      );
    }
    const references = Array.isArray(result.references) ? (result.references as string[]) : [];
    for (const r of references) ctx.stdout.write(`${r}\n`);
    const digest = typeof result.digest === 'string' ? result.digest : undefined;
    if (digest && references.length === 0) ctx.stdout.write(`${digest}\n`);
    const iidfile = str(p, 'iidfile');
    if (iidfile && digest) await writeFileAtomic(iidfile, digest, { signal: ctx.signal });
    ctx.report({ ...(digest ? { digest } : {}), references, job: `${outcome.namespace}/${outcome.job}` });
    return 0;
  } finally {
    renderer.close();
  }
}
