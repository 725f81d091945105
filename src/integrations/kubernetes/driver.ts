/**
 * `gantry build --driver kubernetes`: the build runs as a Kubernetes Job in the current cluster,
 * the way buildx's kubernetes driver and Kaniko put builds on a cluster. The context goes up as a
 * ConfigMap (a gzip tar of at most 768 KiB: a ConfigMap holds 1 MiB with its base64), or, when
 * larger, as an OCI artifact pushed by digest to the repository the build pushes to, which the pod
 * fetches and verifies (src/integrations/kubernetes/context-artifact.ts) and which is deleted when the build ends. The
 * registry credentials the push (and --cache-to/--cache-from) need go in as a short-lived
 * kubernetes.io/dockerconfigjson Secret; Secret and ConfigMap are owned by the Job so the cluster
 * collects them with it. The Job runs the gantry image with
 * `--log-format json`; its log is followed and turned back into progress events, and its result
 * (digest, references, metrics) comes back through the container's termination message, which the
 * gantry in the pod writes. Ctrl-C (the signal) deletes the Job; so does the end of the build.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { GantryError, type IoOptions } from '../../errors.js';
import { writeLayer } from '../../layer/layer.js';
import { walkDirectory } from '../../layer/walk.js';
import type { RegistryClient, Repo } from '../../registry/client/client.js';
import { noProgress, type ProgressEvent, type ProgressSink } from '../../util/progress.js';
import type { KubeCluster } from './client.js';
import { CONTEXT_ARTIFACT_SCHEME, deleteContextArtifact, pushContextArtifact } from './context-artifact.js';

/** `--driver kubernetes[,namespace=NS,image=REF,cpu=…,memory=…]`. */
export interface KubernetesDriver {
  readonly namespace?: string;
  /** The gantry image the Job runs. */
  readonly image: string;
  readonly cpu?: string;
  readonly memory?: string;
  /** Seconds the cluster keeps a finished Job before deleting it if gantry could not (default 3600). */
  readonly ttlSeconds?: number;
}

/** The image a Job runs when the driver names none: this version of gantry. */
export const DEFAULT_DRIVER_IMAGE_REPO = 'ghcr.io/gantry-build/gantry';

/** A ConfigMap holds at most 1 MiB (names and base64 included): the context must stay under this. */
export const CONFIGMAP_CONTEXT_LIMIT = 768 * 1024;

/** Where the Job's volumes are mounted in the pod. */
export const JOB_PATHS = {
  context: '/run/gantry/context',
  docker: '/run/gantry/docker',
  store: '/run/gantry/store',
  terminationLog: '/run/gantry/termination-log',
} as const;

const CONTEXT_KEY = 'context.tar.gz';
const CONTAINER = 'build';
const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'gantry', 'app.kubernetes.io/name': 'gantry-build' };

function usage(message: string, suggestion: string): GantryError {
  return new GantryError('USAGE', message, { phase: 'usage', suggestion });
}

/** Parses the driver flag; `version` picks the default image's tag. */
export function parseDriver(spec: string, version: string): KubernetesDriver {
  const [kind, ...fields] = spec.split(',');
  if (kind !== 'kubernetes') {
    throw usage(
      `unknown --driver ${JSON.stringify(kind)}`,
      'use --driver kubernetes[,namespace=NS,image=REF,cpu=N,memory=SIZE]',
    );
  }
  const out: Record<string, string> = {};
  for (const field of fields) {
    const eq = field.indexOf('=');
    const key = eq < 0 ? field : field.slice(0, eq);
    if (!['namespace', 'image', 'cpu', 'memory', 'ttl'].includes(key) || eq < 0) {
      throw usage(
        `invalid --driver field ${JSON.stringify(field)}`,
        'fields are namespace=, image=, cpu=, memory= and ttl=',
      );
    }
    out[key] = field.slice(eq + 1);
  }
  const ttl = out.ttl === undefined ? undefined : Number(out.ttl);
  if (ttl !== undefined && !(Number.isInteger(ttl) && ttl >= 0))
    throw usage(`invalid ttl=${out.ttl}`, 'give seconds, e.g. ttl=600');
  return {
    image: out.image ?? `${DEFAULT_DRIVER_IMAGE_REPO}:${version}`,
    ...(out.namespace ? { namespace: out.namespace } : {}),
    ...(out.cpu ? { cpu: out.cpu } : {}),
    ...(out.memory ? { memory: out.memory } : {}),
    ...(ttl === undefined ? {} : { ttlSeconds: ttl }),
  };
}

export interface ClusterBuildOptions extends IoOptions {
  readonly cluster: KubeCluster;
  readonly driver: KubernetesDriver;
  /** The local context directory. */
  readonly context: string;
  /** `gantry build` arguments for the pod, without the context (tags, --push, -f, build args...). */
  readonly args: readonly string[];
  /** Registry hosts the build pushes to or pulls from, with the credential to lend the Job. */
  readonly credentials: ReadonlyMap<string, { readonly username: string; readonly password: string }>;
  /**
   * Where a context too large for a ConfigMap goes as an OCI artifact (the repository the build
   * pushes to), with the client that pushes it; without it such a context is refused.
   */
  readonly contextRegistry?: { readonly repo: Repo; client(): Promise<RegistryClient> };
  readonly progress?: ProgressSink;
  /** How often the Job and its pod are looked at; default 1 s. */
  readonly pollMs?: number;
}

export interface ClusterBuildResult {
  readonly job: string;
  readonly namespace: string;
  /** The exit code of gantry in the pod. */
  readonly exitCode: number;
  /** The termination message the pod's gantry wrote (its result or its error), parsed. */
  readonly result?: Record<string, unknown>;
}

interface PackedContext {
  readonly path: string;
  readonly digest: string;
  readonly size: number;
  cleanup(): Promise<void>;
}

async function packContext(dir: string, options: IoOptions): Promise<PackedContext> {
  const tmp = await mkdtemp(join(tmpdir(), 'gantry-driver-'));
  const cleanup = () => rm(tmp, { recursive: true, force: true });
  try {
    const path = join(tmp, CONTEXT_KEY);
    // The repository is not part of the context, as with every other gantry build.
    const filter = (rel: string) => rel !== '.git' && !rel.startsWith('.git/');
    const info = await writeLayer(
      walkDirectory(dir, { keepModes: true, keepMtimes: true, filter, ...options }),
      createWriteStream(path),
      { compression: 'gzip', ...options },
    );
    return { path, digest: info.digest, size: info.size, cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

function dockerConfigJson(credentials: ClusterBuildOptions['credentials']): string {
  const auths: Record<string, { auth: string }> = {};
  for (const [host, c] of credentials)
    auths[host] = { auth: Buffer.from(`${c.username}:${c.password}`).toString('base64') };
  return JSON.stringify({ auths });
}

/** The Job object (batch/v1) for a build. */
export function jobManifest(
  name: string,
  driver: KubernetesDriver,
  args: readonly string[],
  secret: boolean,
  artifact?: string,
): object {
  const resources: Record<string, Record<string, string>> = {};
  if (driver.cpu) resources.requests = { ...resources.requests, cpu: driver.cpu };
  if (driver.memory) {
    resources.requests = { ...resources.requests, memory: driver.memory };
    resources.limits = { memory: driver.memory };
  }
  const volumes: object[] = [
    ...(artifact ? [] : [{ name: 'context', configMap: { name } }]),
    { name: 'store', emptyDir: {} },
    ...(secret ? [{ name: 'docker', secret: { secretName: name } }] : []),
  ];
  const mounts: object[] = [
    ...(artifact ? [] : [{ name: 'context', mountPath: JOB_PATHS.context, readOnly: true }]),
    { name: 'store', mountPath: JOB_PATHS.store },
    ...(secret ? [{ name: 'docker', mountPath: JOB_PATHS.docker, readOnly: true }] : []),
  ];
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, labels: MANAGED_BY },
    spec: {
      backoffLimit: 0,
      ttlSecondsAfterFinished: driver.ttlSeconds ?? 3600,
      template: {
        metadata: { labels: MANAGED_BY },
        spec: {
          restartPolicy: 'Never',
          containers: [
            {
              name: CONTAINER,
              image: driver.image,
              args: [
                '--log-format',
                'json',
                '--termination-log',
                JOB_PATHS.terminationLog,
                'build',
                artifact ?? `${JOB_PATHS.context}/${CONTEXT_KEY}`,
                ...args,
              ],
              env: [
                { name: 'GANTRY_STORE', value: JOB_PATHS.store },
                ...(secret ? [{ name: 'DOCKER_CONFIG', value: JOB_PATHS.docker }] : []),
              ],
              volumeMounts: mounts,
              ...(Object.keys(resources).length > 0 ? { resources } : {}),
              terminationMessagePath: JOB_PATHS.terminationLog,
              terminationMessagePolicy: 'File',
            },
          ],
          volumes,
        },
      },
    },
  };
}

/** JSON log lines from the pod's gantry, back into progress events (other lines become log lines). */
export class PodLogRelay extends Writable {
  readonly #sink: ProgressSink;
  #partial = '';
  readonly #ids = new Map<string, string>();

  constructor(sink: ProgressSink) {
    super();
    this.#sink = sink;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const text = this.#partial + chunk.toString('utf8');
    const lines = text.split('\n');
    this.#partial = lines.pop() ?? '';
    for (const line of lines) this.#line(line);
    callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (this.#partial !== '') this.#line(this.#partial);
    this.#partial = '';
    callback();
  }

  #line(line: string): void {
    if (line.trim() === '') return;
    let o: { level?: string; message?: string; step?: string; code?: string; detail?: string };
    try {
      o = JSON.parse(line) as typeof o;
    } catch {
      this.#sink({ type: 'log', id: 'cluster', line });
      return;
    }
    const message = o.message ?? '';
    const events: ProgressEvent[] = [];
    if (o.step === undefined) {
      if (o.level === 'warn') events.push({ type: 'warning', message, ...(o.code ? { code: o.code } : {}) });
      else if (message !== 'metrics')
        events.push({ type: 'log', id: 'cluster', line: `${o.level ?? 'info'}: ${message}` });
    } else {
      const id = this.#ids.get(o.step) ?? `cluster ${o.step}`;
      if (message === 'started' && o.level === 'info') {
        this.#ids.set(o.step, id);
        events.push({ type: 'start', id, name: o.step });
      } else if (message === 'done' || message === 'cached') {
        events.push(
          message === 'cached'
            ? { type: 'done', id, cached: true }
            : { type: 'done', id, ...(o.detail ? { detail: o.detail } : {}) },
        );
      } else if (o.level === 'error') events.push({ type: 'error', id, message });
      else events.push({ type: 'log', id, line: message });
    }
    for (const e of events) this.#sink(e);
  }
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    // The listener goes when the timer fires: a poll loop would otherwise pile them on the signal.
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });

interface PodView {
  readonly name: string;
  readonly phase?: string;
  readonly waiting?: { reason?: string; message?: string };
  readonly terminated?: { exitCode: number; message?: string; reason?: string };
  readonly started: boolean;
}

function podView(pod: {
  metadata?: { name?: string };
  status?: { phase?: string; containerStatuses?: { name: string; state?: Record<string, unknown> }[] };
}): PodView {
  const status = pod.status?.containerStatuses?.find((c) => c.name === CONTAINER);
  const state = (status?.state ?? {}) as {
    running?: unknown;
    waiting?: { reason?: string; message?: string };
    terminated?: { exitCode: number; message?: string; reason?: string };
  };
  return {
    name: pod.metadata?.name ?? '',
    ...(pod.status?.phase ? { phase: pod.status.phase } : {}),
    ...(state.waiting ? { waiting: state.waiting } : {}),
    ...(state.terminated ? { terminated: state.terminated } : {}),
    started: state.running !== undefined || state.terminated !== undefined,
  };
}

/** Image and configuration failures a pod never recovers from: the build fails at once. */
const FATAL_WAITING = new Set([
  'ErrImagePull',
  'ImagePullBackOff',
  'InvalidImageName',
  'CreateContainerConfigError',
  'CreateContainerError',
]);

/** Runs the build as a Job and follows it to the end (see the file header). */
export async function buildOnCluster(o: ClusterBuildOptions): Promise<ClusterBuildResult> {
  const progress = o.progress ?? noProgress;
  const { cluster } = o;
  const namespace = o.driver.namespace ?? cluster.namespace();
  const name = `gantry-build-${randomBytes(4).toString('hex')}`;
  const io = o.signal ? { signal: o.signal } : {};
  progress({ type: 'start', id: 'driver-context', name: `sending the context to ${namespace}/${name}` });
  const packed = await packContext(o.context, io);
  const large = packed.size > CONFIGMAP_CONTEXT_LIMIT;
  let artifact: string | undefined;
  let client: RegistryClient | undefined;
  const secret = o.credentials.size > 0;
  const created = { job: false };
  const cleanup = async () => {
    // The ConfigMap and Secret are owned by the Job: deleting it in the background takes them along.
    if (created.job) {
      await cluster
        .request(`job ${namespace}/${name}`, 'jobs.batch', namespace, 'delete', (a) =>
          a.batch.deleteNamespacedJob({ name, namespace, propagationPolicy: 'Background' }),
        )
        .catch(() => undefined);
    }
    // The context artifact is the build's alone (pushed by digest, untagged): deleted with the Job.
    const sent = artifact;
    if (sent && client) {
      await deleteContextArtifact(client, sent).catch((err: unknown) =>
        progress({
          type: 'warning',
          message: `could not delete the context artifact ${sent.slice(CONTEXT_ARTIFACT_SCHEME.length)}: ${err instanceof Error ? err.message : String(err)}; it is untagged, the registry's garbage collection removes it`,
        }),
      );
    }
    await packed.cleanup();
  };
  try {
    if (large) {
      if (!o.contextRegistry) {
        throw new GantryError(
          'DRIVER_CONTEXT_TOO_LARGE',
          `the context is ${packed.size} bytes compressed: more than a ConfigMap holds (${CONFIGMAP_CONTEXT_LIMIT}), and the build names no registry to send it to`,
          {
            phase: 'usage',
            suggestion: 'push to a registry (-t REGISTRY/REPO:TAG --push), or leave large files out with .dockerignore',
          },
        );
      }
      client = await o.contextRegistry.client();
      const repo = o.contextRegistry.repo;
      progress({
        type: 'log',
        id: 'driver-context',
        line: `pushing the context to ${repo.registry}/${repo.repository}`,
      });
      artifact = await pushContextArtifact(client, repo, packed, io);
    }
    const job = (await cluster.request(`job ${namespace}/${name}`, 'jobs.batch', namespace, 'create', (a) =>
      a.batch.createNamespacedJob({
        namespace,
        body: jobManifest(name, o.driver, o.args, secret, artifact) as never,
      }),
    )) as { metadata?: { uid?: string } };
    created.job = true;
    const owner = [{ apiVersion: 'batch/v1', kind: 'Job', name, uid: job.metadata?.uid ?? '', controller: true }];
    if (!artifact) {
      const data = await readFile(packed.path);
      await cluster.request(`config map ${namespace}/${name}`, 'configmaps', namespace, 'create', (a) =>
        a.core.createNamespacedConfigMap({
          namespace,
          body: {
            metadata: { name, labels: MANAGED_BY, ownerReferences: owner },
            binaryData: { [CONTEXT_KEY]: data.toString('base64') },
          },
        }),
      );
    }
    if (secret) {
      await cluster.request(`secret ${namespace}/${name}`, 'secrets', namespace, 'create', (a) =>
        a.core.createNamespacedSecret({
          namespace,
          body: {
            metadata: { name, labels: MANAGED_BY, ownerReferences: owner },
            type: 'kubernetes.io/dockerconfigjson',
            data: { '.dockerconfigjson': Buffer.from(dockerConfigJson(o.credentials)).toString('base64') },
          },
        }),
      );
    }
    progress({
      type: 'done',
      id: 'driver-context',
      detail: `${packed.size} bytes${artifact ? ` as ${artifact.slice(CONTEXT_ARTIFACT_SCHEME.length)}` : ''}`,
    });
    return await follow(o, namespace, name, progress);
  } finally {
    await cleanup();
  }
}

async function follow(o: ClusterBuildOptions, namespace: string, name: string, progress: ProgressSink) {
  const { cluster } = o;
  const poll = o.pollMs ?? 1000;
  progress({ type: 'start', id: 'driver-job', name: `job ${namespace}/${name} on ${cluster.context}` });
  let logs: Promise<void> | undefined;
  let logAbort: AbortController | undefined;
  for (;;) {
    if (o.signal?.aborted) throw o.signal.reason;
    const list = (await cluster.request(`pods of job ${namespace}/${name}`, 'pods', namespace, 'list', (a) =>
      a.core.listNamespacedPod({ namespace, labelSelector: `job-name=${name}` }),
    )) as { items?: Parameters<typeof podView>[0][] };
    const pod = (list.items ?? []).map(podView)[0];
    if (pod?.waiting?.reason && FATAL_WAITING.has(pod.waiting.reason)) {
      throw new GantryError(
        'DRIVER_POD_FAILED',
        `the build pod ${namespace}/${pod.name} cannot start: ${pod.waiting.reason}${pod.waiting.message ? `: ${pod.waiting.message}` : ''}`,
        { phase: 'build', suggestion: `check image=${o.driver.image} and that the cluster can pull it` },
      );
    }
    if (pod?.started && logs === undefined) {
      const relay = new PodLogRelay(progress);
      logs = new Promise<void>((resolve) => {
        relay.on('finish', resolve);
        relay.on('error', () => resolve());
        cluster
          .request(`log of pod ${namespace}/${pod.name}`, 'pods/log', namespace, 'get', (a) =>
            a.log.log(namespace, pod.name, CONTAINER, relay, { follow: true }),
          )
          .then((controller) => {
            logAbort = controller as AbortController;
          })
          .catch(() => resolve());
      });
    }
    if (pod?.terminated) {
      // The log stream ends when the container does; give it a moment to drain.
      if (logs) await Promise.race([logs, sleep(5000)]);
      logAbort?.abort();
      const t = pod.terminated;
      let result: Record<string, unknown> | undefined;
      try {
        result = t.message ? (JSON.parse(t.message) as Record<string, unknown>) : undefined;
      } catch {
        result = { message: t.message };
      }
      if (t.exitCode === 0) progress({ type: 'done', id: 'driver-job' });
      else progress({ type: 'error', id: 'driver-job', message: `exit code ${t.exitCode}` });
      return { job: name, namespace, exitCode: t.exitCode, ...(result ? { result } : {}) };
    }
    await sleep(poll, o.signal);
  }
}
