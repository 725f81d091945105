// Looking into a Python base (src/frontend/python/base.ts) and pointing a venv made in the tools
// image at the base's interpreter (venv.ts pointVenvAt), on small directory trees shaped like the
// real images: python:3.11-slim (/usr/local), Debian (/usr/bin/python3 -> python3.11, pip in
// dist-packages), distroless (/usr/bin/python3.11 only, no pip). The end-to-end build on a
// shell-less base is python-distroless.test.ts.
import assert from 'node:assert/strict';
import { chmod, lstat, mkdir, readFile, readlink, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { checkTools, type PythonBase, probeRoot } from '../../../src/frontend/python/base.js';
import { pointVenvAt } from '../../../src/frontend/python/venv.js';
import { withTempDir } from '../helpers.js';

const PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

async function file(root: string, rel: string, content = '', mode = 0o644): Promise<void> {
  await mkdir(dirname(join(root, rel)), { recursive: true });
  await writeFile(join(root, rel), content);
  await chmod(join(root, rel), mode);
}

async function link(root: string, rel: string, target: string): Promise<void> {
  await mkdir(dirname(join(root, rel)), { recursive: true });
  await symlink(target, join(root, rel));
}

/** An interpreter at `bin` with its standard library (os.py, venv/) under `prefix`/lib/python`version`. */
async function interpreter(root: string, prefix: string, version: string): Promise<void> {
  await file(root, `${prefix}/bin/python${version}`, '\x7fELF', 0o755);
  await file(root, `${prefix}/lib/python${version}/os.py`);
  await file(root, `${prefix}/lib/python${version}/venv/__init__.py`);
}

test('probe: python:slim-style, Debian-style and distroless-style roots; the distroless one cannot install', async () => {
  await withTempDir(async (tmp) => {
    const slim = join(tmp, 'slim');
    await interpreter(slim, 'usr/local', '3.12');
    await link(slim, 'usr/local/bin/python3', 'python3.12');
    await file(slim, 'usr/local/lib/python3.12/site-packages/pip/__init__.py');
    assert.deepEqual(await probeRoot(slim, [PATH]), {
      python: '/usr/local/bin/python3',
      onPath: true,
      version: '3.12',
      pip: true,
      venv: true,
    });

    const debian = join(tmp, 'debian');
    await interpreter(debian, 'usr', '3.11');
    await link(debian, 'usr/bin/python3', 'python3.11');
    await file(debian, 'usr/lib/python3/dist-packages/pip/__init__.py');
    // merged /usr: /bin -> usr/bin, so PATH's /bin finds it too; the first PATH entry that has it wins
    await link(debian, 'bin', 'usr/bin');
    assert.deepEqual(await probeRoot(debian, [PATH]), {
      python: '/usr/bin/python3',
      onPath: true,
      version: '3.11',
      pip: true,
      venv: true,
    });

    const distroless = join(tmp, 'distroless');
    await interpreter(distroless, 'usr', '3.11');
    assert.deepEqual(await probeRoot(distroless, [PATH], ['/usr/bin/python3.11']), {
      python: '/usr/bin/python3.11',
      onPath: false,
      version: '3.11',
      pip: false,
      venv: true,
    });
    // No entrypoint naming it: found in the usual places all the same.
    assert.equal((await probeRoot(distroless, [PATH])).python, '/usr/bin/python3.11');

    // An absolute link is followed inside the root, never on the host.
    const abs = join(tmp, 'abs');
    await interpreter(abs, 'opt/py', '3.11');
    await link(abs, 'usr/bin/python3', '/opt/py/bin/python3.11');
    assert.deepEqual(await probeRoot(abs, [PATH]), {
      python: '/usr/bin/python3',
      onPath: true,
      version: '3.11',
      pip: false,
      venv: true,
    });

    const none = join(tmp, 'none');
    await file(none, 'usr/bin/env', '\x7fELF', 0o755);
    await file(none, 'usr/bin/python3', 'not executable');
    assert.deepEqual(await probeRoot(none, [PATH]), { onPath: false, pip: false, venv: false });
  });
});

test('the tools image must run the base Python major.minor: a mismatch is refused naming both; a base without python is refused', () => {
  const base: PythonBase = { python: '/usr/bin/python3.11', onPath: false, version: '3.11', pip: false, venv: true };
  const tools: PythonBase = { python: '/usr/local/bin/python3', onPath: true, version: '3.12', pip: true, venv: true };
  assert.throws(
    () => checkTools(base, 'gcr.io/distroless/python3-debian12', tools, 'python:3.11-slim'),
    (err: Error & { code?: string }) =>
      err.code === 'PYTHON_TOOLS_VERSION_MISMATCH' &&
      err.message ===
        'the base gcr.io/distroless/python3-debian12 runs Python 3.11, the tools image python:3.11-slim has Python 3.12',
  );
  assert.throws(
    () => checkTools({ onPath: false, pip: false, venv: false }, 'scratch-ish', tools, 'python:3.11-slim'),
    (err: Error & { code?: string }) => err.code === 'PYTHON_BASE_NO_PYTHON',
  );
  assert.throws(
    () => checkTools(base, 'b', { ...tools, version: '3.11', pip: false }, 'python:3.11-slim'),
    (err: Error & { code?: string }) => err.code === 'PYTHON_TOOLS_NO_PIP',
  );
  checkTools(base, 'b', { ...tools, version: '3.11' }, 'python:3.11-slim');
});

test('pointVenvAt: a venv made by python:slim is pointed at the base interpreter (pyvenv.cfg home, executable, command; the link out; shebangs naming the old one) and back', async () => {
  await withTempDir(async (tmp) => {
    const venv = join(tmp, 'venv');
    await file(
      venv,
      'pyvenv.cfg',
      'home = /usr/local/bin\ninclude-system-site-packages = true\nversion = 3.11.9\nexecutable = /usr/local/bin/python3.11\ncommand = /usr/local/bin/python3 -m venv --system-site-packages --without-pip /opt/venv\n',
    );
    await link(venv, 'bin/python', '/usr/local/bin/python3');
    await link(venv, 'bin/python3', 'python');
    await link(venv, 'bin/python3.11', 'python');
    await file(venv, 'bin/old-tool', '#!/usr/local/bin/python3\nprint("x")\n', 0o755);
    await file(venv, 'bin/greet', '#!/opt/venv/bin/python\nimport sys\n', 0o755);
    await file(venv, 'bin/native', '\x7fELF/usr/local/bin/python3 ', 0o755);

    await pointVenvAt(venv, '/usr/bin/python3.11');
    assert.equal(
      await readFile(join(venv, 'pyvenv.cfg'), 'utf8'),
      'home = /usr/bin\ninclude-system-site-packages = true\nversion = 3.11.9\nexecutable = /usr/bin/python3.11\ncommand = /usr/bin/python3.11 -m venv --system-site-packages --without-pip /opt/venv\n',
    );
    assert.equal(await readlink(join(venv, 'bin/python')), '/usr/bin/python3.11');
    assert.equal(await readlink(join(venv, 'bin/python3')), 'python', 'links inside the venv stay');
    assert.equal(await readFile(join(venv, 'bin/old-tool'), 'utf8'), '#!/usr/bin/python3.11\nprint("x")\n');
    assert.equal((await lstat(join(venv, 'bin/old-tool'))).mode & 0o777, 0o755);
    assert.equal(await readFile(join(venv, 'bin/greet'), 'utf8'), '#!/opt/venv/bin/python\nimport sys\n');
    assert.equal(await readFile(join(venv, 'bin/native'), 'utf8'), '\x7fELF/usr/local/bin/python3 ', 'ELF untouched');

    // Back to the tools interpreter for a later step in the tools image, then to the base again.
    await pointVenvAt(venv, '/usr/local/bin/python3');
    assert.match(await readFile(join(venv, 'pyvenv.cfg'), 'utf8'), /^home = \/usr\/local\/bin$/m);
    assert.equal(await readlink(join(venv, 'bin/python')), '/usr/local/bin/python3');
    await pointVenvAt(venv, '/usr/bin/python3.11');
    assert.equal(await readlink(join(venv, 'bin/python')), '/usr/bin/python3.11');
    assert.match(await readFile(join(venv, 'pyvenv.cfg'), 'utf8'), /^executable = \/usr\/bin\/python3\.11$/m);
  });
});
