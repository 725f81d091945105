/**
 * Test harness: a Gitea stand-in. There is no Gitea on these machines; this is the real CNCF
 * distribution registry (TLS + basic auth, user `giteaAdmin` whose password is the admin token,
 * as Gitea's registry takes a token) behind a small TLS front on 127.0.0.1 that answers as
 * `gitea.cnoe.localtest.me:PORT` with a certificate from its own CA (the "cluster CA"). The front
 * passes `/v2/...` through unchanged (the Host header too, so the registry's Location URLs name
 * the Gitea host), records manifest pushes as Gitea package versions, and serves the part of
 * Gitea's packages API gantry uses, in the shapes of Gitea's API reference:
 * `GET /api/v1/packages/{owner}?type=container&page=&limit=` (an array of Package) and
 * `DELETE /api/v1/packages/{owner}/container/{name}/{version}` (204). It can refuse manifest
 * DELETE (405 UNSUPPORTED) and pushes (403 DENIED, as Gitea does over quota).
 *
 * `withHostsEntry` maps the Gitea name to 127.0.0.1 in /etc/hosts for the duration of a test,
 * under a unique marker line that is always removed.
 */
import { randomBytes } from 'node:crypto';
import { appendFileSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, request as httpsRequest, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateTls, registryRequest, startRegistry, type TestRegistry } from './registry.js';

export const GITEA_HOSTNAME = 'gitea.cnoe.localtest.me';

export interface GiteaPackageRecord {
  readonly id: number;
  readonly name: string;
  readonly version: string;
  readonly created_at: string;
  /** The manifest digest the tag names (a manifest DELETE by digest removes its versions). */
  readonly digest: string;
}

export interface GiteaStandIn {
  /** `gitea.cnoe.localtest.me:PORT` */
  readonly host: string;
  readonly port: number;
  /** PEM of the CA that signed the front's certificate (what the cluster's secrets hold). */
  readonly caPem: string;
  /** A directory holding ca.crt, for skopeo --cert-dir. */
  readonly certsDir: string;
  readonly username: string;
  readonly password: string;
  readonly token: string;
  readonly registry: TestRegistry;
  /** The container package versions Gitea would list, in push order. */
  readonly packages: GiteaPackageRecord[];
  readonly requests: { method: string; path: string }[];
  /** Answer manifest DELETE with 405 UNSUPPORTED. */
  refuseManifestDelete: boolean;
  /** Answer blob uploads with 403 DENIED and this message (Gitea over its package quota). */
  denyPush: string | undefined;
  stop(): Promise<void>;
}

function giteaUser(login: string): object {
  return {
    id: 1,
    login,
    login_name: '',
    full_name: '',
    email: `${login.toLowerCase()}@cnoe.localtest.me`,
    is_admin: true,
  };
}

/**
 * `hostname`: what the front answers as (default gitea.cnoe.localtest.me; `cnoe.localtest.me` for
 * idpbuilder's path routing). `apiPrefix`: where Gitea's root is under it ('/gitea' with path
 * routing, where `/v2` stays at the root).
 */
export async function startGitea(options: { hostname?: string; apiPrefix?: string } = {}): Promise<GiteaStandIn> {
  const hostname = options.hostname ?? GITEA_HOSTNAME;
  const apiPrefix = options.apiPrefix ?? '';
  const username = 'giteaAdmin';
  const password = randomBytes(9).toString('hex');
  const token = randomBytes(20).toString('hex');
  const owner = username.toLowerCase();
  // The registry accepts the token as the password, as Gitea's registry does; the password is refused.
  const registry = await startRegistry({ mode: 'tls-basic', username, password: token });
  const dir = await mkdtemp(join(tmpdir(), 'gantry-gitea-'));
  const tls = await generateTls(join(dir, 'tls'), {
    dnsNames: [hostname, `*.${hostname.split('.').slice(1).join('.')}`],
  });
  const caPem = await readFile(tls.caFile, 'utf8');
  const certsDir = join(dir, 'certs');
  await mkdir(certsDir);
  await writeFile(join(certsDir, 'ca.crt'), caPem);
  const upstreamCa = await readFile(registry.caFile as string);
  const upstreamPort = Number(new URL(registry.url).port);
  const packages: GiteaPackageRecord[] = [];
  const requests: GiteaStandIn['requests'] = [];
  let nextId = 1;

  const apiAuthorized = (header: string | undefined): boolean => {
    if (header === `token ${token}`) return true;
    if (!header?.startsWith('Basic ')) return false;
    const [user, ...rest] = Buffer.from(header.slice(6), 'base64').toString('utf8').split(':');
    const secret = rest.join(':');
    return user?.toLowerCase() === owner && (secret === token || secret === password);
  };

  const front: Server = createServer({ cert: await readFile(tls.certFile), key: await readFile(tls.keyFile) });
  front.on('request', (req, res) => {
    const path = req.url ?? '/';
    const method = req.method ?? 'GET';
    requests.push({ method, path });
    const json = (code: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(code, { 'content-type': 'application/json', ...headers });
      res.end(body === undefined ? undefined : JSON.stringify(body));
    };
    const url = new URL(path, `https://${hostname}`);
    if (apiPrefix !== '' && url.pathname.startsWith(`${apiPrefix}/api/`))
      url.pathname = url.pathname.slice(apiPrefix.length);
    else if (apiPrefix !== '' && url.pathname.startsWith('/api/')) return json(404, { message: 'not found' });
    if (url.pathname.startsWith('/api/v1/')) {
      if (!apiAuthorized(req.headers.authorization)) return json(401, { message: 'unauthorized', url: url.href });
      const list = /^\/api\/v1\/packages\/([^/]+)$/.exec(url.pathname);
      if (list && method === 'GET') {
        if (decodeURIComponent(list[1] as string).toLowerCase() !== owner)
          return json(404, { message: 'GetUserByName', url: url.href });
        const type = url.searchParams.get('type');
        const limit = Number(url.searchParams.get('limit') ?? 50);
        const page = Number(url.searchParams.get('page') ?? 1);
        const all = type === null || type === 'container' ? packages : [];
        const slice = all.slice((page - 1) * limit, page * limit);
        return json(
          200,
          slice.map((p) => ({
            id: p.id,
            owner: giteaUser(username),
            repository: null,
            creator: giteaUser(username),
            type: 'container',
            name: p.name,
            version: p.version,
            html_url: `https://${hostname}/${owner}/-/packages/container/${p.name}/${p.version}`,
            created_at: p.created_at,
          })),
          { 'x-total-count': String(all.length) },
        );
      }
      const one = /^\/api\/v1\/packages\/([^/]+)\/container\/([^/]+)\/([^/]+)$/.exec(url.pathname);
      if (one && method === 'DELETE') {
        const name = decodeURIComponent(one[2] as string);
        const version = decodeURIComponent(one[3] as string);
        const i = packages.findIndex((p) => p.name === name && p.version === version);
        if (decodeURIComponent(one[1] as string).toLowerCase() !== owner || i < 0)
          return json(404, { message: 'package does not exist', url: url.href });
        packages.splice(i, 1);
        void removeUpstream(`${owner}/${name}`, version).then(
          () => json(204, undefined),
          (err: Error) => json(500, { message: err.message, url: url.href }),
        );
        return;
      }
      return json(404, { message: 'not found', url: url.href });
    }
    const manifest = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(url.pathname);
    if (manifest && method === 'DELETE' && stand.refuseManifestDelete) {
      return json(405, { errors: [{ code: 'UNSUPPORTED', message: 'The operation is unsupported.' }] });
    }
    if (stand.denyPush !== undefined && /\/blobs\/uploads\//.test(url.pathname)) {
      return json(403, { errors: [{ code: 'DENIED', message: stand.denyPush }] });
    }
    // Pass through to the registry, streaming both ways.
    const up = httpsRequest(
      {
        host: '127.0.0.1',
        port: upstreamPort,
        servername: 'localhost',
        ca: upstreamCa,
        method,
        path,
        headers: req.headers,
        agent: false,
      },
      (upRes) => {
        if (manifest && method === 'PUT' && upRes.statusCode === 201) {
          const [, repo, ref] = manifest as unknown as [string, string, string];
          const [first, ...rest] = repo.split('/');
          if (first === owner && !ref.startsWith('sha256:')) {
            const name = rest.join('/');
            const old = packages.findIndex((p) => p.name === name && p.version === ref);
            if (old >= 0) packages.splice(old, 1);
            const digest = String(upRes.headers['docker-content-digest'] ?? '');
            packages.push({ id: nextId++, name, version: ref, created_at: new Date().toISOString(), digest });
          }
        }
        if (manifest && method === 'DELETE' && (upRes.statusCode ?? 0) < 300) {
          const [, repo, digest] = manifest as unknown as [string, string, string];
          const name = repo.split('/').slice(1).join('/');
          for (let i = packages.length - 1; i >= 0; i--)
            if (packages[i]?.name === name && packages[i]?.digest === digest) packages.splice(i, 1);
        }
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
      },
    );
    up.on('error', (err) => {
      if (!res.headersSent) json(502, { errors: [{ code: 'UNKNOWN', message: err.message }] });
      else res.destroy(err);
    });
    req.pipe(up);
  });

  const removeUpstream = async (repo: string, tag: string): Promise<void> => {
    const auth = { auth: true as const };
    const head = await registryRequest(registry, `/v2/${repo}/manifests/${tag}`, {
      ...auth,
      method: 'HEAD',
      headers: { accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json' },
    });
    const digest = head.headers['docker-content-digest'];
    if (typeof digest !== 'string') return;
    await registryRequest(registry, `/v2/${repo}/manifests/${digest}`, { ...auth, method: 'DELETE' });
  };

  await new Promise<void>((resolve, reject) => {
    front.once('error', reject);
    front.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (front.address() as AddressInfo).port;
  const stand: GiteaStandIn = {
    host: `${hostname}:${port}`,
    port,
    caPem,
    certsDir,
    username,
    password,
    token,
    registry,
    packages,
    requests,
    refuseManifestDelete: false,
    denyPush: undefined,
    async stop() {
      front.closeAllConnections();
      await new Promise<void>((resolve) => front.close(() => resolve()));
      await registry.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return stand;
}

const HOSTS = '/etc/hosts';

/**
 * Drops every line holding `marker`. Other processes resolve names through this file meanwhile,
 * so it is never emptied: our line is normally the last one, and cutting it is a truncate; only
 * when someone appended after it is the file rewritten (in place: it may be a bind mount).
 */
function removeHostsLine(marker: string): void {
  const text = readFileSync(HOSTS, 'utf8');
  if (!text.includes(marker)) return;
  const lines = text.split('\n');
  const tail = lines.at(-1) === '' ? lines.at(-2) : lines.at(-1);
  if (tail?.includes(marker) && lines.filter((l) => l.includes(marker)).length === 1) {
    const cut = text.slice(0, text.lastIndexOf(tail));
    truncateSync(HOSTS, Buffer.byteLength(cut));
    return;
  }
  writeFileSync(HOSTS, lines.filter((l) => !l.includes(marker)).join('\n'));
}

/**
 * Runs `fn` with `127.0.0.1 NAMES` in /etc/hosts. The line carries a unique marker, is appended
 * (readers see the file before or after, never a partial one) and is removed in a finally, and at
 * process exit if the finally never ran, whatever `fn` does.
 */
export async function withHostsEntry<T>(names: readonly string[], fn: () => Promise<T>): Promise<T> {
  const marker = `# gantry-test ${process.pid}-${randomBytes(6).toString('hex')}`;
  const onExit = () => {
    try {
      removeHostsLine(marker);
    } catch {
      // Best effort at exit; the finally below is the normal path.
    }
  };
  const before = readFileSync(HOSTS, 'utf8');
  const line = `${before.endsWith('\n') || before === '' ? '' : '\n'}127.0.0.1 ${names.join(' ')} ${marker}\n`;
  process.once('exit', onExit);
  try {
    appendFileSync(HOSTS, line);
    return await fn();
  } finally {
    removeHostsLine(marker);
    process.off('exit', onExit);
  }
}
