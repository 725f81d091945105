/**
 * Test harness: a Python base image without PyPI or Docker Hub. The Debian fixture with Python
 * and the framework packages the examples use (debootstrap --include, cached like every fixture,
 * 1-2 min the first time), standing in for `python:3.11-slim`: Debian bookworm's python3 is 3.11.
 * `pushPythonBase` puts it in a loopback registry as `library/python:3.11-slim`, which gantry
 * reaches through a registries.toml mirror for docker.io, as a user's default base would be.
 * `pythonWorld` is that setup for a test file; `shelllessPythonImage` a distroless-style base
 * made from the fixture; `httpGet` asks an app over HTTP.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REF_NAME_ANNOTATION } from '../../src/layer/archive/names.js';
import { OciLayout } from '../../src/oci/layout.js';
import { type DebianImage, debianImage } from './debian.js';
import { buildInPlace, extractLibraries, fixturesDir, nonrootSkeleton, singleLayerLayout } from './fixtures.js';
import { seedLayerCache } from './image-root.js';
import { startRegistry, type TestRegistry } from './registry.js';
import { run } from './run.js';

/** What the Python base holds besides minbase: pip and venv, and the frameworks of examples/ (Flask, FastAPI, Django). */
export const PYTHON_PACKAGES: readonly string[] = [
  'python3',
  'python3-pip',
  'python3-venv',
  'python3-flask',
  'python3-fastapi',
  'python3-uvicorn',
  'gunicorn',
  'python3-django',
];

export function pythonBaseImage(): Promise<DebianImage> {
  return debianImage({ include: PYTHON_PACKAGES });
}

/** Copies the Python base into `registryHost` (plain HTTP) as library/python:3.11-slim. */
export async function pushPythonBase(registryHost: string, tag = '3.11-slim'): Promise<string> {
  const base = await pythonBaseImage();
  await run('skopeo', [
    'copy',
    '--quiet',
    '--dest-tls-verify=false',
    `oci:${base.layoutDir}:${base.tag}`,
    `docker://${registryHost}/library/python:${tag}`,
  ]);
  return `${registryHost}/library/python:${tag}`;
}

/**
 * A HOME whose registries.toml sends docker.io pulls to the loopback registry: the default base
 * `python:3.11-slim` (docker.io/library/python) then resolves there, exactly as a user's mirror.
 */
export async function mirrorHome(tmp: string, registryHost: string): Promise<NodeJS.ProcessEnv> {
  const home = join(tmp, 'home');
  const conf = join(home, '.config', 'gantry');
  await mkdir(conf, { recursive: true });
  await writeFile(
    join(conf, 'registries.toml'),
    `[registry."docker.io"]\nmirrors = ["${registryHost}"]\n\n[registry."${registryHost}"]\nhttp = true\n`,
  );
  return {
    HOME: home,
    DOCKER_CONFIG: join(home, '.docker'),
    XDG_CONFIG_HOME: join(home, '.config'),
    XDG_RUNTIME_DIR: join(home, 'run'),
    REGISTRY_AUTH_FILE: join(home, 'auth.json'),
    GANTRY_USERNAME: '',
    GANTRY_PASSWORD: '',
    REGISTRY_USERNAME: '',
    REGISTRY_PASSWORD: '',
  };
}

export interface PythonWorld {
  readonly tmp: string;
  readonly registry: TestRegistry;
  /** The environment of gantry runs: the mirror HOME, no PIP_* or SOURCE_DATE_EPOCH from the machine. */
  readonly env: NodeJS.ProcessEnv;
  /** Links the Python base's layers, extracted once per machine, into `store`'s layer cache (seedLayerCache); returns `store`. */
  seed(store: string): Promise<string>;
  stop(): Promise<void>;
}

/**
 * A test file's Python setup: a temporary directory, a loopback registry holding the Python base
 * as library/python:3.11-slim (unless `push: false`: the file pushes its own), and the
 * environment reaching it through a docker.io mirror, with every index setting the test's own
 * (`noIndex`: PIP_NO_INDEX=1, pip reads only --find-links).
 */
export async function pythonWorld(
  prefix: string,
  options: { readonly push?: boolean; readonly noIndex?: boolean } = {},
): Promise<PythonWorld> {
  const tmp = await mkdtemp(join(tmpdir(), prefix));
  const registry = await startRegistry({ mode: 'http' });
  try {
    if (options.push !== false) await pushPythonBase(registry.host);
    const env = {
      ...(await mirrorHome(tmp, registry.host)),
      PIP_FIND_LINKS: '',
      PIP_INDEX_URL: '',
      PIP_EXTRA_INDEX_URL: '',
      PIP_NO_INDEX: options.noIndex ? '1' : '',
      SOURCE_DATE_EPOCH: '',
    };
    return {
      tmp,
      registry,
      env,
      seed: async (store) => {
        const base = await pythonBaseImage();
        return seedLayerCache(store, base.layoutDir, base.tag);
      },
      stop: async () => {
        await registry.stop();
        await rm(tmp, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await registry.stop();
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

/** GET / on 127.0.0.1:`port`: the body, or a rejection (refused, or no answer within `timeoutMs`). */
export function httpGet(port: number, timeoutMs = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', timeout: timeoutMs }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => {
        body += c.toString();
      });
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

/** Bump when the way the shell-less Python base is assembled changes. */
const SHELLLESS_RECIPE_VERSION = 2;
const PYTHON = 'usr/bin/python3.11';

/**
 * A distroless-style Python base (as gcr.io/distroless/python3-debian12) made from the Python
 * fixture: Debian's /usr/bin/python3.11 and its standard library (no test suite), the shared
 * libraries `ldd` names for the interpreter and its extension modules, /etc/passwd with root and
 * nonroot (65532), /tmp; Entrypoint ["/usr/bin/python3.11"], and nothing else: no /bin/sh, no
 * pip, no `python3` on PATH, no dist-packages. Cached in the fixtures dir by the Python fixture's
 * digest. Returns an OCI layout whose index names it `python`.
 */
export async function shelllessPythonImage(): Promise<{ layoutDir: string; tag: 'python' }> {
  const base = await pythonBaseImage();
  const arch = base.platform.split('/')[1] as string;
  const key = createHash('sha256')
    .update([`shellless-python-recipe=${SHELLLESS_RECIPE_VERSION}`, base.digest].join('\n'))
    .digest('hex')
    .slice(0, 16);
  const layoutDir = await buildInPlace(join(fixturesDir(), `python-shellless-${arch}-${key}`), async (tmp) => {
    const layout = await OciLayout.open(base.layoutDir);
    const desc = (await layout.readIndex()).manifests.find((d) => d.annotations?.[REF_NAME_ANNOTATION] === base.tag);
    if (!desc) throw new Error(`${base.layoutDir} names no ${base.tag} image`);
    const layers = await (await layout.image(desc)).layers();
    if (layers.length !== 1) throw new Error(`the Python fixture has ${layers.length} layers, not 1`);
    const blob = layout.blobPath(await (layers[0] as (typeof layers)[0]).digest());
    const stage = join(tmp, 'stage');
    await mkdir(stage);
    await run('tar', [
      '-xzf',
      blob,
      '-C',
      stage,
      '--exclude=usr/lib/python3.11/test',
      '--exclude=usr/lib/python3.11/*/tests',
      '--exclude=__pycache__',
      PYTHON,
      'usr/lib/python3.11',
    ]);
    const dynload = join(stage, 'usr', 'lib', 'python3.11', 'lib-dynload');
    const modules = (await readdir(dynload)).filter((n) => n.endsWith('.so')).map((n) => join(dynload, n));
    await extractLibraries(blob, stage, [join(stage, PYTHON), ...modules]);
    await nonrootSkeleton(stage);
    await singleLayerLayout(stage, join(tmp, 'layout'), {
      arch,
      refName: 'python',
      createdBy: 'gantry test fixture: python3.11, its stdlib and libraries, no shell, no pip',
      config: {
        Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
        Entrypoint: ['/usr/bin/python3.11'],
      },
    });
    return join(tmp, 'layout');
  });
  return { layoutDir, tag: 'python' };
}
