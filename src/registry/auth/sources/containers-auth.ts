/**
 * containers' auth.json (podman, buildah, skopeo): $REGISTRY_AUTH_FILE when set (and then only
 * it), else $XDG_RUNTIME_DIR/containers/auth.json, then $XDG_CONFIG_HOME/containers/auth.json
 * (~/.config by default), first hit wins. Keys may name a namespace ('quay.io/team'); the
 * longest one that contains the repository wins, as containers-auth.json(5) describes.
 */
import { join } from 'node:path';
import { readAuthFile } from '../auth-file.js';
import { resolveFromAuthFile } from './docker-config.js';
import type { CredentialSource, SourceContext } from './source.js';

export function containersAuthPaths(context: SourceContext): string[] {
  const { env, home } = context;
  if (env.REGISTRY_AUTH_FILE) return [env.REGISTRY_AUTH_FILE];
  const paths: string[] = [];
  if (env.XDG_RUNTIME_DIR) paths.push(join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json'));
  paths.push(join(env.XDG_CONFIG_HOME || join(home, '.config'), 'containers', 'auth.json'));
  return [...new Set(paths)];
}

export function containersAuthSource(context: SourceContext): CredentialSource {
  const paths = containersAuthPaths(context);
  return {
    name: 'containers auth.json',
    async resolve(registry, options) {
      for (const path of paths) {
        const file = await readAuthFile(path, options);
        if (file === undefined) continue;
        const cred = await resolveFromAuthFile(file, registry, { ...options, env: context.env });
        if (cred !== undefined) return cred;
      }
      return undefined;
    },
  };
}
