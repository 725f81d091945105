/**
 * Test harness: a Kubernetes API server stand-in. There is no cluster on these machines, so this
 * serves, over node:https with its own CA (openssl, at test time) and bearer-token auth, the
 * reads gantry's idpbuilder discovery makes, in the shapes of the Kubernetes API reference:
 * GET /api/v1/namespaces/{ns}/secrets/{name} (a v1 Secret, data base64), .../configmaps/{name}
 * (a v1 ConfigMap), and GET /apis/{group}/{version}/{plural} of cluster-scoped custom resources
 * (a {Kind}List). Errors are `Status` objects as the API server writes them (401 Unauthorized,
 * 403 Forbidden with the RBAC sentence, 404 NotFound). `kubeconfig()` writes a kubeconfig that
 * points at it. Every request is recorded.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeJobs, type KubeletOptions } from './kube-jobs.js';
import { generateTls } from './registry.js';

export interface KubeObjects {
  /** `ns/name` -> data (plain values: the stand-in base64-encodes them as the API does). */
  readonly secrets?: Readonly<Record<string, Readonly<Record<string, string>>>>;
  readonly configMaps?: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /** `group/version/plural` -> { kind, items } of a cluster-scoped custom resource. */
  readonly custom?: Readonly<Record<string, { readonly kind: string; readonly items: readonly object[] }>>;
  /** Paths (as requested) answered 403, as for a user without the RBAC verb. */
  readonly forbidden?: readonly string[];
  /** Serve the write side and run Jobs with a kubelet stand-in (test/harness/kube-jobs.ts). */
  readonly kubelet?: KubeletOptions;
}

export interface KubeApiStandIn {
  /** https://127.0.0.1:PORT */
  readonly server: string;
  readonly token: string;
  readonly caFile: string;
  /** Every request: method and path (with query). */
  readonly requests: { method: string; path: string; authorized: boolean }[];
  /** The Jobs part, when `kubelet` was given. */
  readonly jobs?: KubeJobs;
  /** Writes a kubeconfig for this server (context `kind-localdev`, as idpbuilder's kind cluster). */
  kubeconfig(file: string, options?: { token?: string; context?: string }): Promise<string>;
  stop(): Promise<void>;
}

const USER = 'system:serviceaccount:default:gantry';

function status(code: number, reason: string, message: string, details?: object): object {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    ...(details ? { details } : {}),
    code,
  };
}

function meta(name: string, namespace?: string): object {
  return {
    name,
    ...(namespace ? { namespace } : {}),
    uid: randomUUID(),
    resourceVersion: String(1000 + Math.floor(Math.random() * 1000)),
    creationTimestamp: '2026-12-01T10:00:00Z',
  };
}

export async function startKubeApi(objects: KubeObjects): Promise<KubeApiStandIn> {
  const dir = await mkdtemp(join(tmpdir(), 'gantry-kube-'));
  const tls = await generateTls(join(dir, 'tls'));
  const token = randomBytes(16).toString('hex');
  const requests: KubeApiStandIn['requests'] = [];
  const jobs = objects.kubelet ? new KubeJobs(objects.kubelet) : undefined;
  const server: Server = createServer(
    { cert: await readFile(tls.certFile), key: await readFile(tls.keyFile) },
    async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const body = Buffer.concat(chunks).toString('utf8');
      const path = req.url ?? '/';
      const authorized = req.headers.authorization === `Bearer ${token}`;
      requests.push({ method: req.method ?? '', path, authorized });
      const send = (code: number, body: object) => {
        res.writeHead(code, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (!authorized) return send(401, status(401, 'Unauthorized', 'Unauthorized'));
      const url = new URL(path, 'https://stand-in');
      if (jobs?.handle(req, res, url, body, send)) return;
      if (req.method !== 'GET')
        return send(
          405,
          status(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource'),
        );
      let m = /^\/api\/v1\/namespaces\/([^/]+)\/(secrets|configmaps)\/([^/]+)$/.exec(url.pathname);
      if (m) {
        const [, ns, resource, name] = m as unknown as [string, string, string, string];
        if (objects.forbidden?.includes(url.pathname)) {
          return send(
            403,
            status(
              403,
              'Forbidden',
              `${resource} "${name}" is forbidden: User "${USER}" cannot get resource "${resource}" in API group "" in the namespace "${ns}"`,
              { name, kind: resource },
            ),
          );
        }
        const table = resource === 'secrets' ? objects.secrets : objects.configMaps;
        const data = table?.[`${ns}/${name}`];
        if (data === undefined)
          return send(404, status(404, 'NotFound', `${resource} "${name}" not found`, { name, kind: resource }));
        if (resource === 'secrets') {
          const encoded = Object.fromEntries(
            Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
          );
          return send(200, {
            kind: 'Secret',
            apiVersion: 'v1',
            metadata: meta(name, ns),
            data: encoded,
            type: 'Opaque',
          });
        }
        return send(200, { kind: 'ConfigMap', apiVersion: 'v1', metadata: meta(name, ns), data });
      }
      m = /^\/apis\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(url.pathname);
      if (m) {
        const [, group, version, plural] = m as unknown as [string, string, string, string];
        if (objects.forbidden?.includes(url.pathname)) {
          return send(
            403,
            status(
              403,
              'Forbidden',
              `${plural}.${group} is forbidden: User "${USER}" cannot list resource "${plural}" in API group "${group}" at the cluster scope`,
              { group, kind: plural },
            ),
          );
        }
        const list = objects.custom?.[`${group}/${version}/${plural}`];
        if (list === undefined)
          return send(404, status(404, 'NotFound', 'the server could not find the requested resource'));
        return send(200, {
          apiVersion: `${group}/${version}`,
          kind: `${list.kind}List`,
          metadata: { continue: '', resourceVersion: '4242' },
          items: list.items.map((item) => ({ apiVersion: `${group}/${version}`, kind: list.kind, ...item })),
        });
      }
      return send(404, status(404, 'NotFound', 'the server could not find the requested resource'));
    },
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const url = `https://127.0.0.1:${port}`;
  const ca = await readFile(tls.caFile);
  return {
    server: url,
    token,
    caFile: tls.caFile,
    requests,
    ...(jobs ? { jobs } : {}),
    async kubeconfig(file, options = {}) {
      const context = options.context ?? 'kind-localdev';
      // JSON is YAML: the client reads either.
      const config = {
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: context, cluster: { server: url, 'certificate-authority-data': ca.toString('base64') } }],
        users: [{ name: context, user: { token: options.token ?? token } }],
        contexts: [{ name: context, context: { cluster: context, user: context } }],
        'current-context': context,
      };
      await writeFile(file, JSON.stringify(config, null, 2));
      return file;
    },
    async stop() {
      await jobs?.stop();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
