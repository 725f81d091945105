// Issue 8 item 12: bad flags are refused before any work, buildx's bare --build-arg works, and a
// failed system call is one line that says what to do, never the raw errno text (EROFS,
// `EISDIR … rename`, `EBUSY rmdir`, ENOENT, ENOSPC) nor a 40 KB name.
import assert from 'node:assert/strict';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { busyboxImage } from '../harness/fixtures.js';
import { gantry, run, withTempDir } from './helpers.js';

const root = process.getuid?.() === 0;
const RAW_ERRNO = /\b(EROFS|EISDIR|EBUSY|ENOENT|ENOSPC|ENAMETOOLONG):/;

/** The one error line gantry printed (asserting it printed exactly one). */
function errorLine(stderr: string): string {
  const lines = stderr.split('\n').filter((l) => l.startsWith('gantry: error:'));
  assert.equal(lines.length, 1, stderr);
  return lines[0] as string;
}

/** Runs `fn` with a tmpfs mounted at `dir` (root only), unmounting it afterwards. */
async function withTmpfs<T>(dir: string, options: string, fn: () => Promise<T>): Promise<T> {
  await mkdir(dir, { recursive: true });
  const m = await run('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir]);
  assert.equal(m.code, 0, m.stderr);
  try {
    return await fn();
  } finally {
    await run('umount', ['-l', dir]);
  }
}

async function scratchContext(tmp: string, dockerfile: string): Promise<string> {
  const ctx = join(tmp, 'ctx');
  await mkdir(ctx, { recursive: true });
  await writeFile(join(ctx, 'Dockerfile'), dockerfile);
  return ctx;
}

test('--platform linux/bogus is a usage error listing the valid forms', async () => {
  await withTempDir(async (tmp) => {
    const ctx = await scratchContext(tmp, 'FROM scratch\nWORKDIR /w\n');
    for (const bad of ['linux/bogus', 'bogus/amd64', 'linux/arm/v9']) {
      const r = await gantry(['build', ctx, '--platform', bad], { store: join(tmp, 'store') });
      assert.equal(r.code, 2, r.stderr);
      assert.match(
        errorLine(r.stderr),
        /invalid --platform .*: write os\/arch\[\/variant\], e\.g\. linux\/amd64, linux\/arm64/,
      );
    }
  });
});

test('--build-arg NAME takes NAME from the environment, and is absent when NAME is unset', async () => {
  await withTempDir(async (tmp) => {
    const ctx = await scratchContext(tmp, 'FROM scratch\nARG FOO=default\nWORKDIR /w-$FOO\n');
    const out = join(tmp, 'out');
    const set = await gantry(['build', ctx, '--build-arg', 'FOO', '-o', `type=local,dest=${out}`], {
      store: join(tmp, 'store'),
      env: { FOO: 'from-env' },
    });
    assert.equal(set.code, 0, set.stderr);
    assert.deepEqual(await readdir(out), ['w-from-env']);
    const out2 = join(tmp, 'out2');
    const unset = await gantry(['build', ctx, '--build-arg', 'FOO', '-o', `type=local,dest=${out2}`], {
      store: join(tmp, 'store'),
      env: { FOO: undefined },
    });
    assert.equal(unset.code, 0, unset.stderr);
    assert.deepEqual(await readdir(out2), ['w-default'], 'an unset bare --build-arg leaves the default');
  });
});

test('a --secret whose file is missing fails before any work, even when no step uses it', async () => {
  await withTempDir(async (tmp) => {
    const ctx = await scratchContext(tmp, 'FROM scratch\nWORKDIR /w\n');
    const out = join(tmp, 'out');
    const r = await gantry(
      ['build', ctx, '--secret', `id=npmrc,src=${join(tmp, 'missing')}`, '-o', `type=local,dest=${out}`],
      { store: join(tmp, 'store') },
    );
    assert.equal(r.code, 2, r.stderr);
    assert.match(errorLine(r.stderr), /--secret id=npmrc: cannot read .*missing \(no such file\): check the src= path/);
    assert.deepEqual(await readdir(tmp), ['ctx'], 'no output and no store were made');
  });
});

test('an output dest that is a directory, for a file output, is one line saying so', async () => {
  await withTempDir(async (tmp) => {
    const ctx = await scratchContext(tmp, 'FROM scratch\nWORKDIR /w\n');
    await mkdir(join(tmp, 'adir'));
    const r = await gantry(['build', ctx, '-o', `type=oci,dest=${join(tmp, 'adir')}`], { store: join(tmp, 'store') });
    assert.equal(r.code, 1, r.stderr);
    const line = errorLine(r.stderr);
    assert.doesNotMatch(line, RAW_ERRNO);
    assert.match(line, /adir is a directory, and this output is one file: give a file name as dest/);
  });
});

test('an over-long name in a layer is one short line naming the limit', async () => {
  await withTempDir(async (tmp) => {
    const ctx = await scratchContext(tmp, 'FROM scratch\nADD long.tar /x/\n');
    const py = `import tarfile,io\nt=tarfile.open(${JSON.stringify(join(ctx, 'long.tar'))},'w',format=tarfile.PAX_FORMAT)\ni=tarfile.TarInfo('d/'+'a'*40000)\ni.size=2\nt.addfile(i,io.BytesIO(b'hi'))\nt.close()\n`;
    const made = await run('python3', ['-c', py]);
    assert.equal(made.code, 0, made.stderr);
    const r = await gantry(['build', ctx], { store: join(tmp, 'store') });
    assert.equal(r.code, 1, r.stderr);
    const line = errorLine(r.stderr);
    assert.ok(line.length < 600, `one short line, not ${line.length} characters`);
    assert.doesNotMatch(line, RAW_ERRNO);
    assert.doesNotMatch(line, /free space/);
    assert.match(line, /too long \(a file name may have at most 255 bytes\)/);
  });
});

test('a read-only or full store, and a mount point as output dest, are one line saying what to do', {
  skip: root ? false : 'mounting a tmpfs needs root',
}, async () => {
  const layout = (await busyboxImage()).layoutDir;
  await withTempDir(async (tmp) => {
    const ctx = await scratchContext(tmp, 'FROM scratch\nWORKDIR /w\n');
    // A store on a read-only file system that cannot be created.
    await withTmpfs(join(tmp, 'ro'), 'ro,size=1m', async () => {
      const r = await gantry(['--store', join(tmp, 'ro', 'store'), 'load', layout]);
      assert.equal(r.code, 1, r.stderr);
      const line = errorLine(r.stderr);
      assert.doesNotMatch(line, RAW_ERRNO);
      assert.match(
        line,
        /".*ro\/store" is on a read-only file system: give --store \(or GANTRY_STORE\) a writable directory/,
      );
      // An output on a read-only file system.
      const o = await gantry(['build', ctx, '-o', `type=tar,dest=${join(tmp, 'ro', 'img.tar')}`], {
        store: join(tmp, 'store'),
      });
      assert.equal(o.code, 1, o.stderr);
      assert.match(
        errorLine(o.stderr),
        /".*ro\/img\.tar" is on a read-only file system: write to a writable directory/,
      );
    });
    // A store on a full disk.
    await withTmpfs(join(tmp, 'tiny'), 'size=256k', async () => {
      const r = await gantry(['--store', join(tmp, 'tiny', 'store'), 'load', layout]);
      assert.equal(r.code, 1, r.stderr);
      const line = errorLine(r.stderr);
      assert.doesNotMatch(line, RAW_ERRNO);
      assert.match(line, /no space left on the device.*: free disk space \(gantry prune removes unused blobs\)/);
    });
    // A local output onto a mount point.
    await withTmpfs(join(tmp, 'mp'), 'size=1m', async () => {
      const r = await gantry(['build', ctx, '-o', `type=local,dest=${join(tmp, 'mp')}`], { store: join(tmp, 'store') });
      assert.equal(r.code, 1, r.stderr);
      const line = errorLine(r.stderr);
      assert.doesNotMatch(line, RAW_ERRNO);
      assert.match(
        line,
        /".*mp" is a mount point or in use, so it cannot be replaced: give dest= a directory below it/,
      );
    });
  });
});

test("a --store or an output under /proc (where Node's recursive mkdir never returns) is one line, not a spin", async () => {
  await withTempDir(async (tmp) => {
    const ctx = await scratchContext(tmp, 'FROM scratch\nWORKDIR /w\n');
    // Before the fix both spun at full CPU and ignored SIGTERM: the timeout turns a hang into a failure.
    const bounded = (args: string[]) => gantry(args, { store: join(tmp, 'store'), timeoutMs: 60_000 });
    const s = await bounded(['--store', '/proc/gantry-nope/store', 'images']);
    assert.equal(s.code, 1, s.stderr);
    assert.match(errorLine(s.stderr), /cannot create the store "\/proc\/gantry-nope\/store": give --store/);
    const o = await bounded(['build', ctx, '-o', 'type=local,dest=/proc/gantry-nope/out']);
    assert.equal(o.code, 1, o.stderr);
    assert.match(errorLine(o.stderr), /"\/proc\/gantry-nope" does not exist/);
  });
});
