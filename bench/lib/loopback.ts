/**
 * The registries of the registry and Dockerfile scenarios: one long-lived source registry on
 * loopback (the CNCF distribution registry of the test harness, plain HTTP) holding the images
 * every tool starts from, fresh registries for destinations, and the byte accounting of a fault
 * proxy's log by blob digest. Images are published with `gantry copy`, once per bench, untimed.
 */
import { GantryError, type IoOptions } from '../../src/errors.js';
import type { ProxyLogEntry } from '../../test/harness/proxy.js';
import { registryRequest, startRegistry, type TestRegistry } from '../../test/harness/registry.js';
import { run } from '../../test/harness/run.js';
import { GANTRY_BIN, gantryArgv } from './contenders.js';

export { GANTRY_BIN, gantryArgv };

/** A plain-HTTP registry on loopback; stop it when done. */
export function startLoopbackRegistry(options: IoOptions = {}): Promise<TestRegistry> {
  return startRegistry({ mode: 'http', ...(options.signal ? { signal: options.signal } : {}) });
}

/** The source registry, started on first use, and what has been published to it. */
export class SourceRegistry {
  #registry: Promise<TestRegistry> | undefined;
  readonly #published = new Map<string, Promise<string>>();

  registry(options: IoOptions = {}): Promise<TestRegistry> {
    if (!this.#registry) {
      this.#registry = startLoopbackRegistry(options);
      this.#registry.catch(() => {
        this.#registry = undefined;
      });
    }
    return this.#registry;
  }

  /**
   * Publishes `oci:layoutDir:tag` as `REGISTRY/repository` (with a tag) once; resolves to the
   * reference. The copy is gantry's, so a gantry failure here fails the scenarios that need it.
   */
  publish(layoutDir: string, tag: string, repository: string, options: IoOptions = {}): Promise<string> {
    let p = this.#published.get(repository);
    if (!p) {
      p = (async () => {
        const reg = await this.registry(options);
        const ref = `${reg.host}/${repository}`;
        const publish = gantryArgv(GANTRY_BIN, [
          '--plain-http',
          '--progress',
          'quiet',
          'copy',
          `oci:${layoutDir}:${tag}`,
          ref,
        ]);
        await run(publish.file, publish.args, options.signal ? { signal: options.signal } : {});
        return ref;
      })();
      p.catch(() => this.#published.delete(repository));
      this.#published.set(repository, p);
    }
    return p;
  }

  async stop(): Promise<void> {
    const reg = this.#registry;
    this.#registry = undefined;
    this.#published.clear();
    await (await reg?.catch(() => undefined))?.stop();
  }
}

/** The `Docker-Content-Digest` of `repository:tag` in `reg`, or a BENCH_BAD_OUTPUT error if it is missing. */
export async function manifestDigest(reg: TestRegistry, repository: string, tag: string): Promise<string> {
  const res = await registryRequest(reg, `/v2/${repository}/manifests/${tag}`, {
    method: 'HEAD',
    headers: {
      accept: [
        'application/vnd.oci.image.manifest.v1+json',
        'application/vnd.oci.image.index.v1+json',
        'application/vnd.docker.distribution.manifest.v2+json',
        'application/vnd.docker.distribution.manifest.list.v2+json',
      ].join(', '),
    },
  });
  const digest = res.headers['docker-content-digest'];
  if (res.status !== 200 || typeof digest !== 'string') {
    throw new GantryError(
      'BENCH_BAD_OUTPUT',
      `${reg.host}/${repository}:${tag} is not in the registry (${res.status})`,
      {
        phase: 'export',
        suggestion: 'the tool reported success but pushed nothing; run it by hand',
      },
    );
  }
  return digest;
}

export interface BlobTraffic {
  /** Response bytes of GETs of the blobs. */
  readonly pulled: number;
  /** Request bytes of uploads that ended naming one of the blobs. */
  readonly pushed: number;
}

/**
 * Bytes of the blobs `digests` that crossed a proxy, from its log: GET bodies of those blobs,
 * and request bodies of every upload that ended naming one of them (the chunks of an upload
 * session go to its own URL; the final PUT, or a one-shot POST, carries `?digest=`). HEADs,
 * mounts and manifests move no blob bytes.
 */
export function blobTraffic(log: readonly ProxyLogEntry[], digests: ReadonlySet<string>): BlobTraffic {
  const blobPath = /^\/v2\/.+\/blobs\/(sha256:[0-9a-f]{64})$/;
  const uploadPath = /^\/v2\/.+\/blobs\/uploads\/[^/]*$/;
  const sessions = new Map<string, { bytes: number; digest?: string }>();
  let pulled = 0;
  let pushed = 0;
  for (const e of log) {
    const url = new URL(e.target, 'http://proxy');
    const blob = blobPath.exec(url.pathname);
    if (blob && e.method === 'GET' && digests.has(blob[1] as string)) pulled += e.responseBytes;
    if (!uploadPath.test(url.pathname)) continue;
    const digest = url.searchParams.get('digest') ?? undefined;
    // A POST to .../uploads/ starts a session (or, with ?digest=, is a whole one-shot upload).
    if (url.pathname.endsWith('/uploads/')) {
      if (digest !== undefined && digests.has(digest)) pushed += e.requestBytes;
      continue;
    }
    const session = sessions.get(url.pathname) ?? { bytes: 0 };
    session.bytes += e.requestBytes;
    session.digest = digest ?? session.digest;
    sessions.set(url.pathname, session);
  }
  for (const s of sessions.values()) if (s.digest !== undefined && digests.has(s.digest)) pushed += s.bytes;
  return { pulled, pushed };
}
