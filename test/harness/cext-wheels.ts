/**
 * Test harness: a wheel with a C extension, compiled for amd64 and for arm64, in one find-links
 * directory (what a private wheelhouse of native wheels looks like). `fastmath` is one extension
 * module whose `arch()` is decided by the compiler (`__aarch64__` or `__x86_64__`), so an image
 * proves which wheel pip chose. The amd64 wheel is built on the host by Debian's python3 (pip
 * wheel with setuptools, gcc and python3-dev; the same 3.11 ABI as the Python base); the arm64
 * one by gantry itself: a Dockerfile build on the arm64 tools fixture (test/harness/arm64.ts) for
 * linux/arm64, so pip and gcc run under qemu-user in gantry's sandbox. Cached in the fixtures dir
 * under a key of the sources, the recipe and the arm64 fixture's digest: a few minutes once.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gantryBin } from '../cli/helpers.js';
import { arm64ToolsImage } from './arm64.js';
import { buildInPlace, fixturesDir } from './fixtures.js';
import { run } from './run.js';

const SETUP_PY = `from setuptools import Extension, setup

setup(
    name="fastmath",
    version="1.0",
    license="MIT",
    ext_modules=[Extension("fastmath", ["fastmath.c"])],
)
`;

const FASTMATH_C = `#define PY_SSIZE_T_CLEAN
#include <Python.h>

#if defined(__aarch64__)
#define ARCH "aarch64"
#elif defined(__x86_64__)
#define ARCH "x86_64"
#else
#define ARCH "other"
#endif

static PyObject *triple(PyObject *self, PyObject *args) {
    long n;
    if (!PyArg_ParseTuple(args, "l", &n)) return NULL;
    return PyLong_FromLong(n * 3);
}

static PyObject *arch(PyObject *self, PyObject *args) { return PyUnicode_FromString(ARCH); }

static PyMethodDef methods[] = {
    {"triple", triple, METH_VARARGS, "n * 3, in C"},
    {"arch", arch, METH_NOARGS, "the architecture this module was compiled for"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "fastmath", NULL, -1, methods};

PyMODINIT_FUNC PyInit_fastmath(void) { return PyModule_Create(&module); }
`;

const DOCKERFILE = `FROM tools AS build
COPY . /src
RUN python3 -m pip wheel --no-deps --no-build-isolation --no-index --disable-pip-version-check -w /out /src
FROM scratch
COPY --from=build /out/ /
`;

const RECIPE = 1;

export interface CExtensionWheels {
  /** The find-links directory: both wheels. */
  readonly dir: string;
  readonly amd64: string;
  readonly arm64: string;
}

async function writeSources(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'setup.py'), SETUP_PY);
  await writeFile(join(dir, 'fastmath.c'), FASTMATH_C);
}

/** fastmath 1.0 for cp311 linux x86_64 and aarch64, in one directory (cached). */
export async function cExtensionWheels(): Promise<CExtensionWheels> {
  const tools = await arm64ToolsImage();
  const key = createHash('sha256')
    .update(JSON.stringify([RECIPE, SETUP_PY, FASTMATH_C, DOCKERFILE, tools.digest]))
    .digest('hex')
    .slice(0, 16);
  const final = join(fixturesDir(), `python-cext-wheels-${key}`);
  await buildInPlace(final, async (tmp) => {
    const out = join(tmp, 'wheels');
    await mkdir(out);
    // amd64: the host's Debian python3 (not a pyenv one), its setuptools and gcc.
    const src = join(tmp, 'src-amd64');
    await writeSources(src);
    await run(
      '/usr/bin/python3',
      [
        '-m',
        'pip',
        'wheel',
        '--no-deps',
        '--no-build-isolation',
        '--no-index',
        '--disable-pip-version-check',
        '-w',
        out,
        src,
      ],
      {
        env: {
          ...process.env,
          SETUPTOOLS_USE_DISTUTILS: 'stdlib',
          PIP_CONFIG_FILE: '/dev/null',
          SOURCE_DATE_EPOCH: '0',
        },
      },
    );
    // arm64: gantry builds it under qemu on the arm64 tools fixture.
    const ctx = join(tmp, 'src-arm64');
    await writeSources(ctx);
    await writeFile(join(ctx, 'Dockerfile'), DOCKERFILE);
    await run(
      'node',
      [
        gantryBin,
        'build',
        '--platform',
        'linux/arm64',
        '--build-context',
        `tools=oci-layout://${tools.layoutDir}:${tools.tag}`,
        '--progress',
        'plain',
        '-o',
        `type=local,dest=${join(tmp, 'arm64-out')}`,
        ctx,
      ],
      { env: { ...process.env, GANTRY_STORE: join(tmp, 'store'), SOURCE_DATE_EPOCH: '0' } },
    );
    for (const name of await readdir(join(tmp, 'arm64-out')))
      await rename(join(tmp, 'arm64-out', name), join(out, name));
    return out;
  });
  const names = await readdir(final);
  const find = (arch: string) => {
    const name = names.find((n) => n.startsWith('fastmath-1.0-') && n.endsWith(`_${arch}.whl`));
    if (!name) throw new Error(`no ${arch} wheel in ${final}: ${names.join(', ')}`);
    return join(final, name);
  };
  return { dir: final, amd64: find('x86_64'), arm64: find('aarch64') };
}
