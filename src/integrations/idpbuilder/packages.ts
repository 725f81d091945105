/**
 * Gitea's packages API, for what the registry protocol cannot do there: list an owner's container
 * images (`GET /api/v1/packages/{owner}?type=container`, an array of Package objects, paged by
 * `page` and `limit`) and delete one version (`DELETE /api/v1/packages/{owner}/container/{name}/
 * {version}`, 204). Requests go through gantry's HTTP transport, verified against the given CA.
 */
import { GantryError, type IoOptions } from '../../errors.js';
import type { Credential } from '../../registry/auth/credential.js';
import { createHttpTransport, type HttpTransport } from '../../registry/transport/index.js';

/** The fields of Gitea's `Package` (modules/structs/package.go) that gantry shows. */
export interface GiteaPackage {
  readonly name: string;
  readonly version: string;
  readonly type: string;
  /** RFC 3339. */
  readonly created_at: string;
  readonly html_url?: string;
}

export interface GiteaApiOptions {
  /** Gitea's root URL (`https://gitea.cnoe.localtest.me:8443/`); the API is under `api/v1/`. */
  readonly base: URL;
  readonly credential: Credential;
  /** PEM CAs to verify the server against (added to the system's). */
  readonly ca?: readonly Buffer[];
  /** Skip TLS verification (--insecure). */
  readonly insecure?: boolean;
}

const PAGE_SIZE = 50;

export class GiteaPackagesApi {
  readonly #options: GiteaApiOptions;
  readonly #http: HttpTransport;

  constructor(options: GiteaApiOptions) {
    this.#options = options;
    this.#http = createHttpTransport({
      hostSettings: () => ({
        ...(options.ca && options.ca.length > 0 ? { ca: options.ca } : {}),
        ...(options.insecure ? { insecure: true } : {}),
      }),
    });
  }

  /** Every container package version of `owner`, following pages. */
  async listContainers(owner: string, options: IoOptions = {}): Promise<GiteaPackage[]> {
    const out: GiteaPackage[] = [];
    for (let page = 1; ; page++) {
      const url = this.#url(`packages/${encodeURIComponent(owner)}`);
      url.searchParams.set('type', 'container');
      url.searchParams.set('page', String(page));
      url.searchParams.set('limit', String(PAGE_SIZE));
      const text = await this.#send(url, 'GET', `listing the packages of ${owner}`, [200], options);
      let items: unknown;
      try {
        items = JSON.parse(text);
      } catch {
        items = undefined;
      }
      if (!Array.isArray(items)) {
        throw new GantryError(
          'GITEA_BAD_ANSWER',
          `Gitea at ${this.#options.base.host} answered the packages list with no JSON array`,
          {
            phase: 'resolve',
            suggestion: 'check that the host is a Gitea (its /api/v1/version answers)',
          },
        );
      }
      for (const p of items as GiteaPackage[]) if (p && p.type === 'container') out.push(p);
      if (items.length < PAGE_SIZE) return out;
    }
  }

  /** Deletes one version (tag) of a container package. */
  async deleteContainer(owner: string, name: string, version: string, options: IoOptions = {}): Promise<void> {
    const url = this.#url(
      `packages/${encodeURIComponent(owner)}/container/${encodeURIComponent(name)}/${encodeURIComponent(version)}`,
    );
    await this.#send(url, 'DELETE', `deleting package ${owner}/${name}:${version}`, [204, 200], options);
  }

  close(): void {
    this.#http.close();
  }

  #url(path: string): URL {
    return new URL(`api/v1/${path}`, this.#options.base);
  }

  async #send(
    url: URL,
    method: 'GET' | 'DELETE',
    what: string,
    ok: readonly number[],
    options: IoOptions,
  ): Promise<string> {
    const { username = '', password = '' } = this.#options.credential;
    const res = await this.#http({
      method,
      url,
      headers: {
        accept: 'application/json',
        authorization: `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`,
      },
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const text = await res.text(16 * 1024 * 1024);
    if (ok.includes(res.status)) return text;
    const message = giteaMessage(text);
    const where = `Gitea at ${url.host}`;
    if (res.status === 401 || res.status === 403) {
      throw new GantryError('GITEA_DENIED', `${where} refused ${what} (HTTP ${res.status}${message})`, {
        phase: 'resolve',
        suggestion: `check the credential (${this.#options.credential.source}) and that it may manage the owner's packages`,
      });
    }
    if (res.status === 404) {
      throw new GantryError('GITEA_NOT_FOUND', `${where}: not found while ${what}${message}`, {
        phase: 'resolve',
        suggestion: 'check the owner, name and tag (gantry catalog --idpbuilder lists them)',
      });
    }
    throw new GantryError('GITEA_API', `${where} failed ${what} with HTTP ${res.status}${message}`, {
      phase: 'resolve',
      suggestion: 'check Gitea (its logs: kubectl -n gitea logs deploy/my-gitea)',
    });
  }
}

/** Gitea's API errors are `{"message": "...", "url": "..."}`. */
function giteaMessage(text: string): string {
  try {
    const m = (JSON.parse(text) as { message?: unknown }).message;
    return typeof m === 'string' && m !== '' ? `: ${m}` : '';
  } catch {
    return '';
  }
}
