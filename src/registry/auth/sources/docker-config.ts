/**
 * docker's config.json ($DOCKER_CONFIG/config.json, else ~/.docker/config.json): a host's
 * `credHelpers` entry, else the `credsStore`, through docker-credential-* programs; then the
 * inline `auths` entry. A helper that is not installed is a miss rather than an error, so that
 * a config.json copied from a laptop (credsStore "desktop", credHelpers "gcloud") does not break
 * anonymous pulls on a CI machine; a helper that runs and fails is an error.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { IoOptions } from '../../../errors.js';
import { type AuthFile, entryCredential, findEntry, helperFor, readAuthFile } from '../auth-file.js';
import type { Credential } from '../credential.js';
import { HelperMissingError, helperGet, IDENTITY_TOKEN_USERNAME } from '../helper.js';
import { serverUrlFor } from '../hosts.js';
import type { CredentialSource, SourceContext } from './source.js';

/**
 * The config.json path docker uses in this environment. In a Kubernetes pod, a secret of type
 * kubernetes.io/dockerconfigjson mounted as a volume shows up as a file named `.dockerconfigjson`:
 * DOCKER_CONFIG may name that directory (read when it has no config.json) or the file itself.
 */
export function dockerConfigPath(context: SourceContext): string {
  const configured = context.env.DOCKER_CONFIG;
  if (configured && statSync(configured, { throwIfNoEntry: false })?.isFile()) return configured;
  const dir = configured || join(context.home, '.docker');
  const path = join(dir, 'config.json');
  if (configured && !existsSync(path) && existsSync(join(dir, MOUNTED_SECRET_KEY)))
    return join(dir, MOUNTED_SECRET_KEY);
  return path;
}

/** The key of a kubernetes.io/dockerconfigjson secret, and so the file name of its volume mount. */
const MOUNTED_SECRET_KEY = '.dockerconfigjson';

/** Resolves through a file's credHelpers/credsStore, then its auths. Shared by every docker-format file. */
export async function resolveFromAuthFile(
  file: AuthFile,
  registry: string,
  options: IoOptions & { repository?: string; env: NodeJS.ProcessEnv },
): Promise<Credential | undefined> {
  const specific = helperFor(file, registry);
  const helper = specific ?? file.credsStore;
  if (helper !== undefined) {
    const kind = specific !== undefined ? 'credHelpers' : 'credsStore';
    try {
      const got = await helperGet(helper, serverUrlFor(registry), { env: options.env, signal: options.signal });
      if (got !== undefined) {
        const source = `${kind} ${helper} (${file.path})`;
        if (got.username === IDENTITY_TOKEN_USERNAME) return { identityToken: got.secret, source };
        return { username: got.username, password: got.secret, source };
      }
    } catch (err) {
      if (!(err instanceof HelperMissingError)) throw err;
      // Not installed here: fall through to the inline entry (see the header).
    }
  }
  const found = findEntry(file.auths, registry, options.repository);
  if (found === undefined) return undefined;
  return entryCredential(file.path, found.key, found.entry, file.path);
}

export function dockerConfigSource(context: SourceContext): CredentialSource {
  const path = dockerConfigPath(context);
  return {
    name: 'docker config',
    async resolve(registry, options) {
      const file = await readAuthFile(path, options);
      if (file === undefined) return undefined;
      return resolveFromAuthFile(file, registry, { ...options, env: context.env });
    },
  };
}
