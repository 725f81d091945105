/**
 * A read-only view of one Kubernetes cluster through `@kubernetes/client-node`: which kubeconfig
 * (`$KUBECONFIG`, `~/.kube/config`, or the pod's service account), which context, and GETs of
 * secrets, config maps and cluster-scoped custom resources. The client library is imported on
 * first use only, so commands that never talk to a cluster never load it. Every failure becomes
 * one GantryError that names the object, the verb and what to do.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { GantryError, type IoOptions, throwIfAborted } from '../../errors.js';
import { trustHostCas } from '../../util/node-tls.js';

/** Where a pod's service account is mounted. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** One request to the API server gives up after this long (a cluster that is down but routed). */
const REQUEST_TIMEOUT_MS = 20_000;

export interface KubeConnectOptions extends IoOptions {
  /** Default process.env ($KUBECONFIG, $HOME, $KUBERNETES_SERVICE_HOST). */
  readonly env?: NodeJS.ProcessEnv;
  /** A kubeconfig context other than the current one (`--kube-context`). */
  readonly context?: string;
  /** What the caller wants the cluster for, ending the "is ... running?" hint; default 'cluster'. */
  readonly purpose?: string;
}

/** The kubeconfig files to read, or 'in-cluster', or undefined when there is none. */
export function kubeconfigSource(env: NodeJS.ProcessEnv = process.env): readonly string[] | 'in-cluster' | undefined {
  const fromEnv = (env.KUBECONFIG ?? '').split(delimiter).filter((f) => f !== '');
  if (fromEnv.length > 0) return fromEnv;
  const home = env.HOME || homedir();
  const file = join(home, '.kube', 'config');
  if (existsSync(file)) return [file];
  if (env.KUBERNETES_SERVICE_HOST && existsSync(join(SERVICE_ACCOUNT_DIR, 'token'))) return 'in-cluster';
  return undefined;
}

type KubeModule = typeof import('@kubernetes/client-node');

let loaded: Promise<KubeModule> | undefined;
function loadClient(): Promise<KubeModule> {
  trustHostCas();
  loaded ??= import('@kubernetes/client-node');
  return loaded;
}

/** A Kubernetes `Status` object, as the API server answers errors. */
interface KubeStatus {
  readonly kind?: string;
  readonly reason?: string;
  readonly message?: string;
  readonly code?: number;
}

/** The client-node APIs the Job driver uses (see KubeCluster.request). */
export interface KubeApis {
  readonly core: InstanceType<KubeModule['CoreV1Api']>;
  readonly batch: InstanceType<KubeModule['BatchV1Api']>;
  readonly log: InstanceType<KubeModule['Log']>;
}

export class KubeCluster {
  readonly #core: InstanceType<KubeModule['CoreV1Api']>;
  readonly #custom: InstanceType<KubeModule['CustomObjectsApi']>;
  readonly #kube: KubeModule;
  readonly #config: InstanceType<KubeModule['KubeConfig']>;
  #apis: KubeApis | undefined;
  readonly #purpose: string;
  /** The API server's URL, for messages. */
  readonly server: string;
  /** The kubeconfig context in use ('inClusterContext' inside a pod). */
  readonly context: string;

  private constructor(kube: KubeModule, config: InstanceType<KubeModule['KubeConfig']>, purpose: string) {
    this.#core = config.makeApiClient(kube.CoreV1Api);
    this.#custom = config.makeApiClient(kube.CustomObjectsApi);
    this.#kube = kube;
    this.#config = config;
    this.#purpose = purpose;
    this.server = config.getCurrentCluster()?.server ?? '(unknown)';
    this.context = config.getCurrentContext();
  }

  /** Reads the kubeconfig (no request is sent yet). */
  static async connect(options: KubeConnectOptions = {}): Promise<KubeCluster> {
    throwIfAborted(options.signal);
    const env = options.env ?? process.env;
    const purpose = options.purpose ?? 'cluster';
    const source = kubeconfigSource(env);
    if (source === undefined) {
      throw new GantryError('KUBE_NO_CONFIG', 'no kubeconfig: $KUBECONFIG is unset and ~/.kube/config does not exist', {
        phase: 'config',
        suggestion: `is the ${purpose} running? create it, or point KUBECONFIG at its kubeconfig`,
      });
    }
    const kube = await loadClient();
    const config = new kube.KubeConfig();
    try {
      if (source === 'in-cluster') config.loadFromCluster();
      else {
        const [first, ...rest] = source;
        config.loadFromFile(first as string);
        for (const file of rest) {
          const more = new kube.KubeConfig();
          more.loadFromFile(file);
          config.mergeConfig(more, true);
        }
      }
    } catch (err) {
      throw new GantryError('KUBE_BAD_CONFIG', `cannot read kubeconfig ${describeSource(source)}: ${message(err)}`, {
        phase: 'config',
        suggestion: 'check the file (kubectl config view), or point KUBECONFIG at another one',
        cause: err,
      });
    }
    if (options.context !== undefined) {
      if (config.getContextObject(options.context) === null) {
        throw new GantryError(
          'KUBE_NO_CONTEXT',
          `kubeconfig ${describeSource(source)} has no context ${options.context}`,
          {
            phase: 'usage',
            suggestion: `pick one of: ${
              config
                .getContexts()
                .map((c) => c.name)
                .join(', ') || '(none)'
            }`,
          },
        );
      }
      config.setCurrentContext(options.context);
    }
    if (config.getCurrentCluster() === null) {
      throw new GantryError('KUBE_NO_CONTEXT', `kubeconfig ${describeSource(source)} has no current context`, {
        phase: 'config',
        suggestion: 'run kubectl config use-context NAME, or give --kube-context NAME',
      });
    }
    return new KubeCluster(kube, config, purpose);
  }

  /** GET a secret's data, base64-decoded. */
  async secret(namespace: string, name: string, options: IoOptions = {}): Promise<Record<string, Buffer>> {
    const s = await this.#call(
      `secret ${namespace}/${name}`,
      'secrets',
      namespace,
      () => this.#core.readNamespacedSecret({ name, namespace }),
      options,
    );
    const out: Record<string, Buffer> = {};
    for (const [k, v] of Object.entries(s.data ?? {})) out[k] = Buffer.from(v, 'base64');
    return out;
  }

  /** GET a config map's data. */
  async configMap(namespace: string, name: string, options: IoOptions = {}): Promise<Record<string, string>> {
    const cm = await this.#call(
      `config map ${namespace}/${name}`,
      'configmaps',
      namespace,
      () => this.#core.readNamespacedConfigMap({ name, namespace }),
      options,
    );
    return { ...(cm.data ?? {}) };
  }

  /** LIST a cluster-scoped custom resource; the items as plain JSON. */
  async listClusterObjects(
    group: string,
    version: string,
    plural: string,
    options: IoOptions = {},
  ): Promise<readonly Record<string, unknown>[]> {
    const list = (await this.#call(
      `${plural}.${group}`,
      `${plural}.${group}`,
      undefined,
      () => this.#custom.listClusterCustomObject({ group, version, plural }),
      options,
    )) as { items?: unknown };
    return Array.isArray(list?.items) ? (list.items as Record<string, unknown>[]) : [];
  }

  /** The namespace of the current context (the pod's own namespace in-cluster), else `default`. */
  namespace(): string {
    return this.#config.getContextObject(this.context)?.namespace ?? inClusterNamespace() ?? 'default';
  }

  /**
   * Any other request, for the Job driver: `send` gets the APIs; a failure becomes the same one
   * GantryError as a read, naming `verb` (create, delete, list, watch) for the RBAC hint.
   */
  request<T>(
    what: string,
    resource: string,
    namespace: string | undefined,
    verb: string,
    send: (apis: KubeApis) => Promise<T>,
    options: IoOptions = {},
  ): Promise<T> {
    this.#apis ??= {
      core: this.#core,
      batch: this.#config.makeApiClient(this.#kube.BatchV1Api),
      log: new this.#kube.Log(this.#config),
    };
    const apis = this.#apis;
    return this.#call(what, resource, namespace, () => send(apis), options, verb);
  }

  async #call<T>(
    what: string,
    resource: string,
    namespace: string | undefined,
    send: () => Promise<T>,
    options: IoOptions,
    verb = 'get',
  ): Promise<T> {
    throwIfAborted(options.signal);
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const stop = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(Object.assign(new Error(`no answer in ${REQUEST_TIMEOUT_MS / 1000}s`), { code: 'ETIMEDOUT' })),
        REQUEST_TIMEOUT_MS,
      );
      onAbort = () => reject(options.signal?.reason);
      options.signal?.addEventListener('abort', onAbort, { once: true });
    });
    try {
      return await Promise.race([send(), stop]);
    } catch (err) {
      throwIfAborted(options.signal);
      throw this.#explain(err, what, resource, namespace, verb);
    } finally {
      clearTimeout(timer);
      if (onAbort) options.signal?.removeEventListener('abort', onAbort);
    }
  }

  #explain(err: unknown, what: string, resource: string, namespace: string | undefined, verb: string): GantryError {
    const status = (err as { code?: unknown }).code;
    if (typeof status === 'number') {
      const body = parseStatus((err as { body?: unknown }).body);
      const detail = body?.message ? `: ${body.message}` : '';
      const where = namespace === undefined ? 'cluster-wide' : `in namespace ${namespace}`;
      if (status === 404) {
        return new GantryError('KUBE_NOT_FOUND', `${what} not found in cluster ${this.context}${detail}`, {
          phase: 'config',
          suggestion: `is the ${this.#purpose} installed in this cluster (context ${this.context})?`,
          cause: err,
        });
      }
      if (status === 403) {
        return new GantryError('KUBE_FORBIDDEN', `forbidden to ${verb} ${what}${detail}`, {
          phase: 'config',
          suggestion: `grant the kubeconfig's user the RBAC verb "${verb}" on ${resource} ${where}`,
          cause: err,
        });
      }
      if (status === 401) {
        return new GantryError(
          'KUBE_UNAUTHORIZED',
          `the Kubernetes API at ${this.server} refused the kubeconfig's credentials`,
          {
            phase: 'config',
            suggestion: `log in to the cluster again, or check the user of context ${this.context}`,
            cause: err,
          },
        );
      }
      return new GantryError(
        'KUBE_API',
        `${verb === 'get' ? 'getting' : `${verb}: `}${what} failed with HTTP ${status}${detail}`,
        {
          phase: 'config',
          suggestion: `check the cluster (kubectl --context ${this.context} get --raw /healthz)`,
          cause: err,
        },
      );
    }
    return new GantryError('KUBE_UNREACHABLE', `cannot reach the Kubernetes API at ${this.server}: ${message(err)}`, {
      phase: 'config',
      suggestion: `is the ${this.#purpose} running? (context ${this.context})`,
      cause: err,
    });
  }
}

function inClusterNamespace(): string | undefined {
  try {
    return readFileSync(join(SERVICE_ACCOUNT_DIR, 'namespace'), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

function parseStatus(body: unknown): KubeStatus | undefined {
  if (typeof body === 'string') {
    try {
      return JSON.parse(body) as KubeStatus;
    } catch {
      return undefined;
    }
  }
  return typeof body === 'object' && body !== null ? (body as KubeStatus) : undefined;
}

function describeSource(source: readonly string[] | 'in-cluster'): string {
  return source === 'in-cluster' ? '(in-cluster service account)' : source.join(delimiter);
}

function message(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as NodeJS.ErrnoException).code;
  const cause = (err as { cause?: unknown }).cause;
  const causeCode = cause instanceof Error ? (cause as NodeJS.ErrnoException).code : undefined;
  const first = err.message.split('\n')[0] ?? err.message;
  const c = code ?? causeCode;
  return c && !first.includes(c) ? `${first} (${c})` : first;
}
