/**
 * Test harness: a Debian bookworm base image made with `debootstrap --variant=minbase` from the
 * mirror this machine's apt already uses, packed into a single-layer OCI image with gantry's own
 * layer and OCI code. Like the busybox fixtures it is cached in `.cache/fixtures` under a key
 * hashed from its recipe (suite, variant, mirror, architecture, DEBIAN_RECIPE_VERSION), built in
 * a temp dir beside its final place and renamed into place, so racing test processes never see
 * half a fixture. The mirror is not a snapshot: bump DEBIAN_RECIPE_VERSION (or delete the cached
 * directory) to pick up newer packages.
 */

import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { readdir, readFile, rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_PATH } from '../../src/engine/config.js';
import { GantryError } from '../../src/errors.js';
import { REF_NAME_ANNOTATION } from '../../src/layer/archive/names.js';
import { writeLayer } from '../../src/layer/layer.js';
import { walkDirectory } from '../../src/layer/walk.js';
import { OciLayout, writeToLayout } from '../../src/oci/layout.js';
import { newImage } from '../../src/oci/mutate.js';
import { layerFromDescriptor } from '../../src/oci/partial.js';
import { type Descriptor, type Index, MediaType, type Platform } from '../../src/oci/types.js';
import { buildInPlace, fixturesDir } from './fixtures.js';
import { run } from './run.js';

/** Bump when the way the Debian fixture is assembled changes, so cached copies are rebuilt. */
export const DEBIAN_RECIPE_VERSION = 1;

const SUITE = 'bookworm';
const VARIANT = 'minbase';
const DEFAULT_MIRROR = 'http://deb.debian.org/debian';
const EPOCH = '1970-01-01T00:00:00Z';
const APT_SOURCES = '/etc/apt/sources.list';
const APT_SOURCES_DIR = '/etc/apt/sources.list.d';

export interface DebianImage {
  /** An OCI image layout; index.json names one single-platform image manifest `debian`. */
  readonly layoutDir: string;
  readonly tag: 'debian';
  readonly digest: string;
  /** The host's architecture, e.g. `linux/amd64`. */
  readonly platform: string;
}

function fixtureError(code: string, message: string, cause?: unknown): GantryError {
  return new GantryError(code, message, {
    suggestion:
      'run `node scripts/setup-test-deps.mjs` as root (it installs debootstrap), check the network, then retry',
    cause,
  });
}

/** Archive URIs serving `suite`, from one-line (`deb URI SUITE ...`) and deb822 (`URIs:`/`Suites:`) sources. */
function mirrorsIn(text: string, deb822: boolean, suite: string): string[] {
  const out: string[] = [];
  if (!deb822) {
    for (const line of text.split('\n')) {
      const words = line
        .replace(/#.*/, '')
        .replace(/\[[^\]]*\]/, '')
        .trim()
        .split(/\s+/);
      if (words[0] === 'deb' && words[2] === suite && words[1]) out.push(words[1]);
    }
    return out;
  }
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    for (const line of stanza.split('\n')) {
      const m = /^([A-Za-z-]+):\s*(.*)$/.exec(line.replace(/#.*/, ''));
      if (m) fields.set((m[1] as string).toLowerCase(), (m[2] as string).trim());
    }
    if (fields.get('enabled')?.toLowerCase() === 'no') continue;
    if (!(fields.get('types') ?? '').split(/\s+/).includes('deb')) continue;
    if (!(fields.get('suites') ?? '').split(/\s+/).includes(suite)) continue;
    out.push(...(fields.get('uris') ?? '').split(/\s+/).filter(Boolean));
  }
  return out;
}

/**
 * The Debian mirror this machine's apt uses for bookworm ($GANTRY_DEBIAN_MIRROR overrides it),
 * so the fixture downloads from wherever this machine is allowed to reach.
 */
export async function debianMirror(): Promise<string> {
  if (process.env.GANTRY_DEBIAN_MIRROR) return process.env.GANTRY_DEBIAN_MIRROR;
  const files: { path: string; deb822: boolean }[] = [{ path: APT_SOURCES, deb822: false }];
  for (const name of (await readdir(APT_SOURCES_DIR).catch(() => [] as string[])).sort()) {
    if (name.endsWith('.list')) files.push({ path: join(APT_SOURCES_DIR, name), deb822: false });
    else if (name.endsWith('.sources')) files.push({ path: join(APT_SOURCES_DIR, name), deb822: true });
  }
  for (const { path, deb822 } of files) {
    const text = await readFile(path, 'utf8').catch(() => '');
    const found = mirrorsIn(text, deb822, SUITE).find((uri) => /^https?:\/\//.test(uri));
    if (found) return found.replace(/\/+$/, '');
  }
  return DEFAULT_MIRROR;
}

async function hostArch(): Promise<string> {
  return (await run('dpkg', ['--print-architecture'])).stdout.trim();
}

/**
 * What debootstrap leaves that an image must not carry: device nodes, the host's resolv.conf and
 * hostname, downloaded .debs, apt's package lists and caches, the bootstrap log. Directories stay.
 */
function keep(rel: string, isDir: boolean): boolean {
  if (/^(dev|proc|sys|tmp)\/./.test(rel)) return false;
  if (rel === 'etc/resolv.conf' || rel === 'etc/hostname' || rel === 'var/log/bootstrap.log') return false;
  if (!isDir && /^var\/(cache\/apt|lib\/apt\/lists)\//.test(rel)) return false;
  return true;
}

async function buildLayout(
  layoutDir: string,
  tmp: string,
  mirror: string,
  arch: string,
  include: readonly string[],
): Promise<Descriptor> {
  const rootfs = join(tmp, 'rootfs');
  const extra = include.length > 0 ? [`--include=${include.join(',')}`] : [];
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive', LC_ALL: 'C' };
  // Another architecture: the first stage unpacks, the second runs the packages' scripts in the
  // rootfs through qemu-user (binfmt_misc with the F flag, as the sandbox needs anyway).
  const foreign = arch !== (await hostArch());
  try {
    await run(
      'debootstrap',
      [`--variant=${VARIANT}`, `--arch=${arch}`, ...(foreign ? ['--foreign'] : []), ...extra, SUITE, rootfs, mirror],
      { env },
    );
    if (foreign) await run('chroot', [rootfs, '/debootstrap/debootstrap', '--second-stage'], { env });
  } catch (err) {
    throw fixtureError('FIXTURE_DEBOOTSTRAP_FAILED', `debootstrap ${SUITE} from ${mirror} failed`, err);
  }
  if (!existsSync(join(rootfs, 'usr', 'bin', 'apt-get'))) {
    throw fixtureError('FIXTURE_BAD_ROOTFS', `debootstrap left no usr/bin/apt-get in ${rootfs}`);
  }
  const layout = await OciLayout.init(layoutDir);
  const layerFile = join(tmp, 'layer.tar.gz');
  const entries = walkDirectory(rootfs, {
    keepModes: true,
    keepOwners: true,
    mtime: 0,
    filter: (rel, st) => keep(rel, st.isDirectory()),
  });
  const info = await writeLayer(entries, createWriteStream(layerFile), { compression: 'gzip' });
  await rm(rootfs, { recursive: true, force: true });
  await layout.writeBlob(createReadStream(layerFile), { digest: info.digest, size: info.size });
  await rm(layerFile);
  const platform: Platform = { architecture: arch, os: 'linux' };
  const image = await newImage({
    platform,
    created: EPOCH,
    layers: [
      {
        layer: layerFromDescriptor(
          layout,
          { mediaType: info.mediaType, digest: info.digest, size: info.size },
          info.diffID,
        ),
        history: {
          created: EPOCH,
          created_by:
            `gantry test fixture: debootstrap --variant=${VARIANT} ${extra.join(' ')} ${SUITE} ${mirror}`.replace(
              / {2,}/g,
              ' ',
            ),
        },
      },
    ],
    config: (cfg) => ({ ...cfg, config: { ...cfg.config, Env: [DEFAULT_PATH], Cmd: ['bash'] } }),
  });
  const desc = await writeToLayout(layout, image);
  const top: Index = {
    schemaVersion: 2,
    mediaType: MediaType.OciIndex,
    manifests: [{ ...desc, platform, annotations: { [REF_NAME_ANNOTATION]: 'debian' } }],
  };
  await layout.writeIndex(top);
  await rmdir(layout.tempDir).catch(() => {});
  return desc;
}

async function describeLayout(layoutDir: string): Promise<DebianImage> {
  const top = await (await OciLayout.open(layoutDir)).readIndex();
  const entry = top.manifests.find((d) => d.annotations?.[REF_NAME_ANNOTATION] === 'debian');
  if (!entry?.platform) throw fixtureError('FIXTURE_CORRUPT', `${layoutDir}/index.json does not name debian`);
  return {
    layoutDir,
    tag: 'debian',
    digest: entry.digest,
    platform: `${entry.platform.os}/${entry.platform.architecture}`,
  };
}

const inflight = new Map<string, Promise<string>>();

export interface DebianImageOptions {
  /**
   * Extra packages debootstrap installs (`--include`), e.g. python3 and python3-pip for a Python
   * base. Part of the cache key: each list is its own fixture, built once.
   */
  readonly include?: readonly string[];
  /** A Debian architecture (`arm64`) other than the host's: debootstrap --foreign, then the second stage under qemu-user. */
  readonly arch?: string;
}

/**
 * The Debian fixture: bookworm minbase for the host's architecture (or `arch`), one gzip layer with owners
 * and modes kept (mtimes 0), Env PATH, Cmd ["bash"], /etc/apt/sources.list pointing at the mirror.
 * About 30 s to build the first time (1-2 min with an include list), then cached. Shared: copy it
 * before changing anything in it.
 */
export async function debianImage(options: DebianImageOptions = {}): Promise<DebianImage> {
  const include = [...new Set(options.include ?? [])].sort();
  const memo = `${options.arch ?? ''}:${include.join(',')}`;
  let pending = inflight.get(memo);
  if (!pending) {
    pending = (async () => {
      const mirror = await debianMirror();
      const arch = options.arch ?? (await hostArch());
      const recipe = [`debian-recipe-version=${DEBIAN_RECIPE_VERSION}`, SUITE, VARIANT, mirror, arch];
      // The plain fixture keeps its old key (and cached copy); an include list adds to it.
      if (include.length > 0) recipe.push(`include=${include.join(',')}`);
      const key = createHash('sha256').update(recipe.join('\n')).digest('hex').slice(0, 16);
      const name = include.length > 0 ? `debian-${SUITE}-${arch}-plus${include.length}` : `debian-${SUITE}-${arch}`;
      const final = join(fixturesDir(), `${name}-${key}`);
      if (existsSync(final)) return final;
      if (process.getuid?.() !== 0)
        throw fixtureError('FIXTURE_NEEDS_ROOT', 'debootstrap needs root to build the Debian fixture');
      return buildInPlace(final, async (tmp) => {
        await buildLayout(join(tmp, 'layout'), tmp, mirror, arch, include);
        return join(tmp, 'layout');
      });
    })();
    inflight.set(memo, pending);
    pending.catch(() => {
      inflight.delete(memo);
    });
  }
  return describeLayout(await pending);
}
