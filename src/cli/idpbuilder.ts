/**
 * The CLI side of the idpbuilder integration: `build --idpbuilder` names, `catalog --idpbuilder`
 * (or of a host that is the cluster's Gitea) through the packages API, the `delete` fallback, and
 * errors that say which Gitea refused what. Everything cluster-related is in src/integrations.
 */
import { GantryError } from '../errors.js';
import {
  type GiteaPackage,
  GiteaPackagesApi,
  giteaImageName,
  type IdpbuilderCluster,
  idpbuilderCluster,
  idpbuilderHooks,
} from '../integrations/idpbuilder/index.js';
import { formatReference, parseReference } from '../reference/index.js';
import { isReferrersTag } from '../registry/client/index.js';
import type { CommandContext, GlobalFlags } from './context.js';

function discoverOptions(ctx: CommandContext) {
  return {
    signal: ctx.signal,
    ...(ctx.flags.kubeContext !== undefined ? { context: ctx.flags.kubeContext } : {}),
  };
}

/** Hooks for the registry client of one command (a lazily-evaluated keychain source and CA). */
export function registryHooks(flags: GlobalFlags) {
  return idpbuilderHooks(flags.kubeContext !== undefined ? { context: flags.kubeContext } : {});
}

function warnInsecure(ctx: CommandContext, cluster: IdpbuilderCluster): void {
  if (ctx.flags.insecure) {
    ctx.stderr.write(
      `gantry: warning: --insecure: the TLS certificate of ${cluster.registry} is not verified (the cluster's CA would verify it without --insecure)\n`,
    );
  }
}

/** `build --idpbuilder -t NAME[:TAG]`: the cluster's Gitea names `<registry>/<owner>/NAME[:TAG]`. */
export async function idpbuilderNames(
  tags: readonly string[],
  ctx: CommandContext,
): Promise<{ names: string[]; cluster: IdpbuilderCluster }> {
  const cluster = await idpbuilderCluster(discoverOptions(ctx));
  warnInsecure(ctx, cluster);
  return { names: tags.map((t) => giteaImageName(cluster, t)), cluster };
}

/** A push the cluster's Gitea refused, said in its terms. Other errors (a base image's registry) pass unchanged. */
export function explainGiteaPush(err: unknown, cluster: IdpbuilderCluster): unknown {
  const status = (err as { status?: unknown }).status;
  const registry = (err as { registry?: unknown }).registry;
  if (!GantryError.is(err) || typeof status !== 'number') return err;
  if (typeof registry === 'string' && registry.toLowerCase() !== cluster.registry.toLowerCase()) return err;
  // Gitea says why in the error body (quota, owner): keep its words.
  const said = ((err as { errors?: readonly { message?: string }[] }).errors ?? [])
    .map((e) => e.message)
    .filter((m): m is string => typeof m === 'string' && m !== '' && !err.message.includes(m));
  const why = said.length > 0 ? `${err.message} (Gitea: ${said.join('; ')})` : err.message;
  if (status === 401 || status === 403) {
    return new GantryError('GITEA_PUSH_DENIED', `Gitea at ${cluster.registry} refused the push: ${why}`, {
      phase: 'push',
      suggestion: `the owner must be ${cluster.owner} (the admin of secret gitea/gitea-credential) and the credential valid; check its packages quota in Gitea's admin settings`,
      cause: err,
    });
  }
  if (status === 413) {
    return new GantryError('GITEA_PUSH_TOO_LARGE', `Gitea at ${cluster.registry} refused a blob as too large: ${why}`, {
      phase: 'push',
      suggestion: "give --chunk-size 5M to stay under the ingress body limit, or raise Gitea's package size limit",
      cause: err,
    });
  }
  return err;
}

/** The cluster behind HOST (or the cluster itself with --idpbuilder), or undefined. */
export async function giteaCluster(
  host: string | undefined,
  ctx: CommandContext,
): Promise<IdpbuilderCluster | undefined> {
  if (host === undefined) return idpbuilderCluster(discoverOptions(ctx));
  return registryHooks(ctx.flags).giteaFor(host);
}

function packagesApi(cluster: IdpbuilderCluster, ctx: CommandContext): GiteaPackagesApi {
  warnInsecure(ctx, cluster);
  return new GiteaPackagesApi({
    base: cluster.base,
    credential: cluster.credential,
    ca: [cluster.ca],
    insecure: ctx.flags.insecure,
  });
}

/** `catalog` of a Gitea: the owner's container packages, one line per version. */
export async function giteaCatalog(
  cluster: IdpbuilderCluster,
  json: boolean,
  ctx: CommandContext,
  all = false,
): Promise<void> {
  const api = packagesApi(cluster, ctx);
  let packages: GiteaPackage[];
  try {
    packages = await api.listContainers(cluster.owner, { signal: ctx.signal });
  } finally {
    api.close();
  }
  // Gitea lists the referrers-fallback tags (an image's SBOM, provenance, signatures) as versions.
  if (!all) packages = packages.filter((p) => !isReferrersTag(p.version));
  packages.sort((a, b) => a.name.localeCompare(b.name) || a.version.localeCompare(b.version));
  const rows = packages.map((p) => ({
    name: `${cluster.registry}/${cluster.owner}/${p.name}`,
    tag: p.version,
    created: p.created_at,
  }));
  if (json) {
    ctx.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    return;
  }
  const table = [['NAME', 'TAG', 'CREATED'], ...rows.map((r) => [r.name, r.tag, r.created])];
  const widths = [0, 1].map((i) => Math.max(...table.map((r) => (r[i] as string).length)));
  for (const r of table) {
    ctx.stdout.write(
      `${(r[0] as string).padEnd(widths[0] as number)}  ${(r[1] as string).padEnd(widths[1] as number)}  ${r[2]}\n`,
    );
  }
}

/**
 * `delete` on a Gitea whose registry refuses manifest deletion (405/UNSUPPORTED): delete the
 * package version through the packages API instead: the deleted reference, or undefined when
 * that does not apply.
 */
export async function giteaDeleteFallback(
  err: unknown,
  input: string,
  ctx: CommandContext,
): Promise<string | undefined> {
  const status = (err as { status?: unknown }).status;
  if (!GantryError.is(err) || (status !== 405 && err.code !== 'UNSUPPORTED')) return undefined;
  const ref = parseReference(input);
  const cluster = await registryHooks(ctx.flags).giteaFor(ref.registry);
  if (cluster === undefined) return undefined;
  const prefix = `${cluster.owner}/`;
  if (!ref.repository.startsWith(prefix)) {
    throw new GantryError(
      'GITEA_OWNER',
      `${ref.repository} is not under the owner ${cluster.owner} of the cluster's Gitea`,
      {
        phase: 'usage',
        suggestion: `delete ${ref.registry}/${prefix}NAME:TAG`,
      },
    );
  }
  const version = ref.tag ?? ref.digest;
  if (version === undefined) return undefined;
  const api = packagesApi(cluster, ctx);
  try {
    await api.deleteContainer(cluster.owner, ref.repository.slice(prefix.length), version, { signal: ctx.signal });
  } finally {
    api.close();
  }
  return formatReference(ref);
}
