/**
 * What gantry needs to know about an idpbuilder cluster, read from the cluster itself: where its
 * Gitea answers (the `Localbuild` resource's build customization: protocol, host, port, path
 * routing), the admin credential (secret gitea/gitea-credential: username, password, token), and
 * the CA of its self-signed ingress certificate. One discovery per process and kube context.
 */
import type { IoOptions } from '../../errors.js';
import { GantryError } from '../../errors.js';
import type { Credential } from '../../registry/auth/credential.js';
import { KubeCluster } from '../kubernetes/client.js';

/** idpbuilder's custom resource: `localbuilds.idpbuilder.cnoe.io`, cluster-scoped. */
export const LOCALBUILD = { group: 'idpbuilder.cnoe.io', version: 'v1alpha1', plural: 'localbuilds' } as const;
export const GITEA_CREDENTIAL = { namespace: 'gitea', name: 'gitea-credential' } as const;
/** The ingress certificate (idpbuilder makes it self-signed: it is its own CA). */
export const CERT_SECRET = { namespace: 'ingress-nginx', name: 'idpbuilder-cert', key: 'tls.crt' } as const;
/** The copy idpbuilder leaves for clients, under `ca.crt`. */
export const CERT_CONFIG_MAP = { namespace: 'default', name: 'idpbuilder-cert', key: 'ca.crt' } as const;
/** idpbuilder's pkg/build/tls.go writes that copy as a Secret of the same name and key: read it too. */
export const CERT_CLIENT_SECRET = { namespace: 'default', name: 'idpbuilder-cert', key: 'ca.crt' } as const;

/** `spec.buildCustomization` of a Localbuild (idpbuilder api/v1alpha1 BuildCustomizationSpec). */
export interface BuildCustomization {
  readonly protocol?: string;
  readonly host?: string;
  readonly port?: string;
  readonly usePathRouting?: boolean;
}

export interface GiteaEndpoints {
  /** The registry host as references name it: `gitea.cnoe.localtest.me:8443`. */
  readonly registry: string;
  /** Gitea's root URL, under which `/api/v1` lives. */
  readonly base: URL;
}

/**
 * Where idpbuilder exposes Gitea. Subdomain routing (the default): `gitea.HOST:PORT` for the web
 * UI, the API and the registry. Path routing: the UI and API under `HOST:PORT/gitea`, while `/v2`
 * at the root of `HOST:PORT` goes to Gitea's registry (its ingress `my-gitea-path-oci-root`).
 */
export function giteaEndpoints(spec: BuildCustomization = {}): GiteaEndpoints {
  const protocol = spec.protocol || 'https';
  const host = spec.host || 'cnoe.localtest.me';
  const port = spec.port || '8443';
  const defaultPort = (protocol === 'https' && port === '443') || (protocol === 'http' && port === '80');
  const hostname = spec.usePathRouting ? host : `gitea.${host}`;
  const registry = defaultPort ? hostname : `${hostname}:${port}`;
  return { registry, base: new URL(`${protocol}://${registry}${spec.usePathRouting ? '/gitea' : ''}/`) };
}

export const DEFAULT_GITEA = giteaEndpoints();

export interface IdpbuilderCluster extends GiteaEndpoints {
  /** The admin user as Gitea's URLs spell it (lowercased): the owner of the pushed images. */
  readonly owner: string;
  /** The token when the secret has one (as the password of the admin user), else the password. */
  readonly credential: Credential;
  /** PEM of the cluster's CA. */
  readonly ca: Buffer;
  /** The kube context it was read through. */
  readonly context: string;
}

export interface DiscoverOptions extends IoOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly context?: string;
}

const PURPOSE = 'idpbuilder cluster';

/** Reads the cluster's Gitea endpoints, credential and CA. */
export async function discoverIdpbuilder(options: DiscoverOptions = {}): Promise<IdpbuilderCluster> {
  const cluster = await KubeCluster.connect({ ...options, purpose: PURPOSE });
  const io = options.signal ? { signal: options.signal } : {};
  const builds = await cluster.listClusterObjects(LOCALBUILD.group, LOCALBUILD.version, LOCALBUILD.plural, io);
  const spec = (builds[0]?.spec as { buildCustomization?: BuildCustomization } | undefined)?.buildCustomization;
  const endpoints = giteaEndpoints(spec);
  const secret = await cluster.secret(GITEA_CREDENTIAL.namespace, GITEA_CREDENTIAL.name, io);
  const username = secret.username?.toString('utf8').trim();
  const token = secret.token?.toString('utf8').trim();
  const password = secret.password?.toString('utf8');
  const where = `secret ${GITEA_CREDENTIAL.namespace}/${GITEA_CREDENTIAL.name}`;
  if (!username || (!token && !password)) {
    throw new GantryError('IDPBUILDER_BAD_SECRET', `${where} has no ${username ? 'token or password' : 'username'}`, {
      phase: 'config',
      suggestion: 'recreate it with idpbuilder (idpbuilder get secrets -p gitea shows it)',
    });
  }
  const credential: Credential = {
    username,
    password: token || (password as string),
    source: `${where} (${token ? 'token' : 'password'}, kube context ${cluster.context})`,
  };
  return {
    ...endpoints,
    owner: username.toLowerCase(),
    credential,
    ca: await clusterCa(cluster, io),
    context: cluster.context,
  };
}

async function clusterCa(cluster: KubeCluster, io: IoOptions): Promise<Buffer> {
  const places: { what: string; key: string; read(): Promise<Buffer | string | undefined> }[] = [
    {
      ...CERT_SECRET,
      what: 'secret',
      read: async () => (await cluster.secret(CERT_SECRET.namespace, CERT_SECRET.name, io))[CERT_SECRET.key],
    },
    {
      ...CERT_CONFIG_MAP,
      what: 'config map',
      read: async () =>
        (await cluster.configMap(CERT_CONFIG_MAP.namespace, CERT_CONFIG_MAP.name, io))[CERT_CONFIG_MAP.key],
    },
    {
      ...CERT_CLIENT_SECRET,
      what: 'secret',
      read: async () =>
        (await cluster.secret(CERT_CLIENT_SECRET.namespace, CERT_CLIENT_SECRET.name, io))[CERT_CLIENT_SECRET.key],
    },
  ].map((p) => ({ what: `${p.what} ${p.namespace}/${p.name}`, key: p.key, read: p.read }));
  const tried: string[] = [];
  for (const place of places) {
    try {
      const value = await place.read();
      if (value?.toString().includes('-----BEGIN CERTIFICATE-----')) return Buffer.from(value);
      tried.push(`${place.what} has no ${place.key}`);
    } catch (err) {
      // Missing: try the next place. Forbidden or unreachable: say so now.
      if (!GantryError.is(err) || err.code !== 'KUBE_NOT_FOUND') throw err;
      tried.push(`no ${place.what}`);
    }
  }
  throw new GantryError('IDPBUILDER_NO_CA', `no CA for the cluster's Gitea: ${tried.join(', ')}`, {
    phase: 'config',
    suggestion: 'recreate the cluster with idpbuilder, or trust the CA yourself (registries.toml ca)',
  });
}

const sessions = new Map<string, Promise<IdpbuilderCluster>>();

/** discoverIdpbuilder, once per process and kube context (a failure is not remembered). */
export function idpbuilderCluster(options: DiscoverOptions = {}): Promise<IdpbuilderCluster> {
  const key = options.context ?? '';
  let pending = sessions.get(key);
  if (pending === undefined) {
    pending = discoverIdpbuilder(options);
    sessions.set(key, pending);
    pending.catch(() => sessions.delete(key));
  }
  return pending;
}

/**
 * The image name `--idpbuilder` pushes to: `<registry>/<owner>/<name>[:tag]`. Gitea package names
 * are lowercase, so an upper-case name is refused here rather than by the registry.
 */
export function giteaImageName(cluster: Pick<IdpbuilderCluster, 'registry' | 'owner'>, name: string): string {
  const path = name.replace(/^\/+/, '');
  const colon = path.lastIndexOf(':');
  const repo = colon > path.lastIndexOf('/') ? path.slice(0, colon) : path;
  if (repo !== repo.toLowerCase()) {
    throw new GantryError('IDPBUILDER_UPPERCASE', `image name ${JSON.stringify(repo)} has upper-case letters`, {
      phase: 'usage',
      suggestion: `Gitea package names are lowercase: use -t ${repo.toLowerCase()}${path.slice(repo.length)}`,
    });
  }
  const first = repo.includes('/') ? (repo.split('/')[0] as string) : '';
  if (first.includes('.') || first.includes(':') || first === 'localhost') {
    throw new GantryError('IDPBUILDER_FULL_NAME', `-t ${name} names a registry; --idpbuilder takes a short name`, {
      phase: 'usage',
      suggestion: `use -t NAME[:TAG] (it goes to ${cluster.registry}/${cluster.owner}/NAME), or drop --idpbuilder`,
    });
  }
  return `${cluster.registry}/${cluster.owner}/${path}`;
}
