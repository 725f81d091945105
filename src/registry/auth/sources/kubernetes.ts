/**
 * A Kubernetes image pull secret mounted as a file (type kubernetes.io/dockerconfigjson):
 * $GANTRY_DOCKERCONFIGJSON, else /var/run/secrets/gantry/.dockerconfigjson when it exists. The
 * format is config.json's; helpers are not consulted, since a secret file cannot name programs
 * that exist in the pod. A path named by the variable must exist: a missing secret mount is a
 * deployment mistake worth reporting.
 */
import { GantryError } from '../../../errors.js';
import { entryCredential, findEntry, readAuthFile } from '../auth-file.js';
import type { CredentialSource, SourceContext } from './source.js';

export const DEFAULT_DOCKERCONFIGJSON = '/var/run/secrets/gantry/.dockerconfigjson';

export function kubernetesSecretSource(context: SourceContext): CredentialSource {
  const explicit = context.env.GANTRY_DOCKERCONFIGJSON || undefined;
  const path = explicit ?? DEFAULT_DOCKERCONFIGJSON;
  return {
    name: 'kubernetes secret',
    async resolve(registry, options) {
      const file = await readAuthFile(path, options);
      if (file === undefined) {
        if (explicit === undefined) return undefined;
        throw new GantryError(
          'BAD_CREDENTIALS_FILE',
          `${path}: GANTRY_DOCKERCONFIGJSON names a file that does not exist`,
          {
            phase: 'config',
            suggestion: 'mount the pull secret at that path, or unset GANTRY_DOCKERCONFIGJSON',
          },
        );
      }
      const found = findEntry(file.auths, registry, options.repository);
      if (found === undefined) return undefined;
      return entryCredential(path, found.key, found.entry, path);
    },
  };
}
