/**
 * Test harness: the write side of the Kubernetes API stand-in and a kubelet stand-in, for the
 * kubernetes driver. Shapes follow the API reference: POST/DELETE of ConfigMaps and Secrets in a
 * namespace, POST/GET/DELETE of batch/v1 Jobs, LIST of Pods by label selector, and
 * GET .../pods/{name}/log?follow=true streamed as text. Objects with ownerReferences to a deleted
 * Job are collected, as the garbage collector does.
 *
 * The kubelet stand-in runs a Job's one container on this machine: it waits until the ConfigMaps
 * and Secrets its volumes name exist (a real pod waits in ContainerCreating), writes them to
 * directories, and runs the container's command (`imageCommand(image)` followed by its args; the
 * image itself is not pulled) as root in a private mount namespace where each volume is bind-mounted
 * at its mountPath under a private tmpfs, and the termination message file is bound at
 * terminationMessagePath. Its output is the pod log; the file, when it exits, is the termination
 * message. What a real cluster adds (scheduling, image pulls, cgroups) is not modelled.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export interface KubeletOptions {
  /** The host command that stands for an image's entrypoint (e.g. [node, bin/gantry.js]). */
  readonly imageCommand: (image: string) => readonly string[];
  /** Extra environment for containers (PATH and the like). */
  readonly env?: NodeJS.ProcessEnv;
}

interface Obj {
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    labels?: Record<string, string>;
    ownerReferences?: { uid: string }[];
  };
  [k: string]: unknown;
}

interface Pod {
  name: string;
  namespace: string;
  job: string;
  phase: 'Pending' | 'Running' | 'Succeeded' | 'Failed';
  log: Buffer[];
  logDone: boolean;
  listeners: Set<ServerResponse>;
  terminated?: { exitCode: number; message: string; reason: string };
  process?: ChildProcess;
  dir?: string;
}

type Send = (code: number, body: object) => void;

const SCRIPT = String.raw`
set -e
base="$1"; shift
mount --make-rprivate /
mkdir -p "$base"
mount -t tmpfs gantry-pod "$base"
while [ "$1" != "--" ]; do
  mkdir -p "$2"
  if [ -d "$1" ]; then mount --bind "$1" "$2"; else rmdir "$2"; touch "$2"; mount --bind "$1" "$2"; fi
  shift 2
done
shift
exec "$@"
`;

export class KubeJobs {
  readonly #options: KubeletOptions;
  readonly configMaps = new Map<string, Obj>();
  readonly secrets = new Map<string, Obj>();
  readonly jobs = new Map<string, Obj>();
  readonly pods = new Map<string, Pod>();
  /** Every Job created, in order, as it was sent (kept after its deletion). */
  readonly created: Obj[] = [];
  /** Jobs deleted, in order (`ns/name`). */
  readonly deleted: string[] = [];

  constructor(options: KubeletOptions) {
    this.#options = options;
  }

  /** Handles the request when it is one of this part's; false otherwise. */
  handle(req: IncomingMessage, res: ServerResponse, url: URL, body: string, send: Send): boolean {
    const method = req.method ?? 'GET';
    let m = /^\/api\/v1\/namespaces\/([^/]+)\/(configmaps|secrets)(?:\/([^/]+))?$/.exec(url.pathname);
    if (m && (method === 'POST' || method === 'DELETE')) {
      const [, ns, resource, name] = m as unknown as [string, string, string, string | undefined];
      const table = resource === 'configmaps' ? this.configMaps : this.secrets;
      if (method === 'POST')
        return this.#create(table, ns, body, resource === 'configmaps' ? 'ConfigMap' : 'Secret', send);
      table.delete(`${ns}/${name}`);
      send(200, { kind: 'Status', apiVersion: 'v1', status: 'Success' });
      return true;
    }
    m = /^\/apis\/batch\/v1\/namespaces\/([^/]+)\/jobs(?:\/([^/]+))?$/.exec(url.pathname);
    if (m) {
      const [, ns, name] = m as unknown as [string, string, string | undefined];
      if (method === 'POST') {
        this.#create(this.jobs, ns, body, 'Job', send);
        const job = [...this.jobs.values()].at(-1) as Obj;
        this.created.push(job);
        this.#schedule(job);
        return true;
      }
      const job = this.jobs.get(`${ns}/${name}`);
      if (!job) {
        send(404, {
          kind: 'Status',
          apiVersion: 'v1',
          status: 'Failure',
          reason: 'NotFound',
          code: 404,
          message: `jobs.batch "${name}" not found`,
        });
        return true;
      }
      if (method === 'DELETE') {
        this.#deleteJob(job);
        send(200, { kind: 'Status', apiVersion: 'v1', status: 'Success' });
        return true;
      }
      send(200, this.#jobWithStatus(job));
      return true;
    }
    m = /^\/api\/v1\/namespaces\/([^/]+)\/pods$/.exec(url.pathname);
    if (m && method === 'GET') {
      const ns = m[1] as string;
      const selector = url.searchParams.get('labelSelector') ?? '';
      const jobName = /^job-name=(.+)$/.exec(selector)?.[1];
      const items = [...this.pods.values()]
        .filter((p) => p.namespace === ns && (jobName === undefined || p.job === jobName))
        .map((p) => this.#podObject(p));
      send(200, { kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: '1' }, items });
      return true;
    }
    m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/log$/.exec(url.pathname);
    if (m && method === 'GET') {
      const pod = this.pods.get(`${m[1]}/${m[2]}`);
      if (!pod) {
        send(404, {
          kind: 'Status',
          apiVersion: 'v1',
          status: 'Failure',
          reason: 'NotFound',
          code: 404,
          message: `pods "${m[2]}" not found`,
        });
        return true;
      }
      res.writeHead(200, { 'content-type': 'text/plain' });
      for (const chunk of pod.log) res.write(chunk);
      if (pod.logDone || url.searchParams.get('follow') !== 'true') res.end();
      else {
        pod.listeners.add(res);
        res.on('close', () => pod.listeners.delete(res));
      }
      return true;
    }
    return false;
  }

  #create(table: Map<string, Obj>, ns: string, body: string, kind: string, send: Send): boolean {
    const obj = JSON.parse(body) as Obj;
    const name = obj.metadata.name;
    if (table.has(`${ns}/${name}`)) {
      send(409, {
        kind: 'Status',
        apiVersion: 'v1',
        status: 'Failure',
        reason: 'AlreadyExists',
        code: 409,
        message: `${kind} "${name}" already exists`,
      });
      return true;
    }
    obj.metadata = { ...obj.metadata, namespace: ns, uid: randomUUID() };
    table.set(`${ns}/${name}`, obj);
    send(201, { apiVersion: kind === 'Job' ? 'batch/v1' : 'v1', kind, ...obj });
    return true;
  }

  #schedule(job: Obj): void {
    const ns = job.metadata.namespace;
    const name = `${job.metadata.name}-${randomBytes(3).toString('hex').slice(0, 5)}`;
    const pod: Pod = {
      name,
      namespace: ns,
      job: job.metadata.name,
      phase: 'Pending',
      log: [],
      logDone: false,
      listeners: new Set(),
    };
    this.pods.set(`${ns}/${name}`, pod);
    void this.#run(job, pod);
  }

  async #run(job: Obj, pod: Pod): Promise<void> {
    const spec = (job.spec as { template: { spec: PodSpec } }).template.spec;
    const container = spec.containers[0] as ContainerSpec;
    // ContainerCreating: wait for the volumes' objects, as the kubelet retries a missing ConfigMap.
    const volumes = spec.volumes ?? [];
    for (let i = 0; i < 600; i++) {
      if (!this.jobs.has(`${pod.namespace}/${pod.job}`)) return;
      const ready = volumes.every(
        (v) =>
          (!v.configMap || this.configMaps.has(`${pod.namespace}/${v.configMap.name}`)) &&
          (!v.secret || this.secrets.has(`${pod.namespace}/${v.secret.secretName}`)),
      );
      if (ready) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const dir = await mkdtemp(join(tmpdir(), 'gantry-kubelet-'));
    pod.dir = dir;
    const binds: string[] = [];
    for (const v of volumes) {
      const host = join(dir, 'volumes', v.name);
      await mkdir(host, { recursive: true });
      const files = new Map<string, Buffer>();
      if (v.configMap) {
        const cm = this.configMaps.get(`${pod.namespace}/${v.configMap.name}`) as Obj;
        for (const [k, val] of Object.entries((cm.data ?? {}) as Record<string, string>))
          files.set(k, Buffer.from(val));
        for (const [k, val] of Object.entries((cm.binaryData ?? {}) as Record<string, string>))
          files.set(k, Buffer.from(val, 'base64'));
      } else if (v.secret) {
        const s = this.secrets.get(`${pod.namespace}/${v.secret.secretName}`) as Obj;
        for (const [k, val] of Object.entries((s.data ?? {}) as Record<string, string>))
          files.set(k, Buffer.from(val, 'base64'));
      }
      if (v.configMap || v.secret) {
        // The kubelet's atomic writer: the keys live in a timestamped directory that `..data` points
        // at, and each key is a symlink through `..data`.
        const stamp = '..2026_12_05_08_00_00.000000001';
        await mkdir(join(host, stamp));
        for (const [k, data] of files) await writeFile(join(host, stamp, k), data);
        await symlink(stamp, join(host, '..data'));
        for (const k of files.keys()) await symlink(join('..data', k), join(host, k));
      }
      const mount = container.volumeMounts?.find((m) => m.name === v.name);
      if (mount) binds.push(host, mount.mountPath);
    }
    const messagePath = container.terminationMessagePath ?? '/dev/termination-log';
    const messageFile = join(dir, 'termination-log');
    await writeFile(messageFile, '');
    binds.push(messageFile, messagePath);
    const env: NodeJS.ProcessEnv = { ...process.env, ...this.#options.env, KUBERNETES_SERVICE_HOST: '10.96.0.1' };
    for (const e of container.env ?? []) env[e.name] = e.value;
    const argv = [...this.#options.imageCommand(container.image), ...(container.args ?? [])];
    const base = dirname(messagePath);
    pod.phase = 'Running';
    const child = spawn('unshare', ['--mount', '--fork', 'sh', '-c', SCRIPT, 'pod', base, ...binds, '--', ...argv], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    pod.process = child;
    const onData = (chunk: Buffer) => {
      pod.log.push(chunk);
      for (const l of pod.listeners) l.write(chunk);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    const code = await new Promise<number>((resolve) =>
      child.on('close', (c, signal) => resolve(c ?? (signal ? 137 : 1))),
    );
    const message = await readFile(messageFile, 'utf8').catch(() => '');
    pod.terminated = { exitCode: code, message, reason: code === 0 ? 'Completed' : 'Error' };
    pod.phase = code === 0 ? 'Succeeded' : 'Failed';
    pod.logDone = true;
    for (const l of pod.listeners) l.end();
    pod.listeners.clear();
    await rm(dir, { recursive: true, force: true });
  }

  #deleteJob(job: Obj): void {
    const key = `${job.metadata.namespace}/${job.metadata.name}`;
    this.jobs.delete(key);
    this.deleted.push(key);
    for (const [k, p] of this.pods) {
      if (p.namespace !== job.metadata.namespace || p.job !== job.metadata.name) continue;
      if (p.process?.pid && p.terminated === undefined) {
        try {
          process.kill(-p.process.pid, 'SIGTERM');
        } catch {}
      }
      this.pods.delete(k);
    }
    // The garbage collector: what the Job owned goes with it.
    for (const table of [this.configMaps, this.secrets]) {
      for (const [k, o] of table)
        if (o.metadata.ownerReferences?.some((r) => r.uid === job.metadata.uid)) table.delete(k);
    }
  }

  #jobWithStatus(job: Obj): object {
    const pods = [...this.pods.values()].filter((p) => p.job === job.metadata.name);
    return {
      apiVersion: 'batch/v1',
      kind: 'Job',
      ...job,
      status: {
        active: pods.filter((p) => p.phase === 'Running' || p.phase === 'Pending').length,
        succeeded: pods.filter((p) => p.phase === 'Succeeded').length,
        failed: pods.filter((p) => p.phase === 'Failed').length,
      },
    };
  }

  #podObject(p: Pod): object {
    const state = p.terminated
      ? { terminated: p.terminated }
      : p.phase === 'Running'
        ? { running: { startedAt: new Date().toISOString() } }
        : { waiting: { reason: 'ContainerCreating' } };
    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: p.name, namespace: p.namespace, labels: { 'job-name': p.job }, uid: randomUUID() },
      status: { phase: p.phase, containerStatuses: [{ name: 'build', ready: p.phase === 'Running', state }] },
    };
  }

  /** Waits for every pod process to end (for a clean test teardown). */
  async stop(): Promise<void> {
    for (const p of this.pods.values()) {
      if (p.process?.pid && p.terminated === undefined) {
        try {
          process.kill(-p.process.pid, 'SIGKILL');
        } catch {}
      }
    }
  }
}

interface PodSpec {
  containers: ContainerSpec[];
  volumes?: { name: string; configMap?: { name: string }; secret?: { secretName: string }; emptyDir?: object }[];
}

interface ContainerSpec {
  name: string;
  image: string;
  args?: string[];
  env?: { name: string; value: string }[];
  volumeMounts?: { name: string; mountPath: string }[];
  terminationMessagePath?: string;
}
