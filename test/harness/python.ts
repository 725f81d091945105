/**
 * Test harness: a Python base image without PyPI or Docker Hub. The Debian fixture with Python
 * and the framework packages the examples use (debootstrap --include, cached like every fixture,
 * 1-2 min the first time), standing in for `python:3.11-slim`: Debian bookworm's python3 is 3.11.
 * `pushPythonBase` puts it in a loopback registry as `library/python:3.11-slim`, which gantry
 * reaches through a registries.toml mirror for docker.io, as a user's default base would be.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type DebianImage, debianImage } from './debian.js';
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
