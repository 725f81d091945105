// Issue 8 items 5 and 6 (engine part): a build SIGKILLed in the middle of a RUN, in each sandbox
// this machine has. A secret mounted into the RUN never reaches a file on the host (it lives on a
// tmpfs of the sandbox's own mount namespace), not even before the next command; the step's
// overlay mount, its snapshot directory and the executor's run directory are left by the kill and
// removed, unmounted first, by the next command that takes the store's lock; every blob the store
// references still re-hashes.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstat, mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { isolationAvailable } from '../../src/engine/executor/index.js';
import { overlayAvailable } from '../../src/engine/snapshot/index.js';
import { busyboxStore, writeTree } from '../frontend/helpers.js';
import { gantry, gantryBin, withTempDir } from './helpers.js';

const SECRET = 'gantry-kill-test-5ecret-d2a7f0';

/** Every regular file under `dir` whose content contains `needle` (does not follow symlinks). */
async function filesContaining(dir: string, needle: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const name of await readdir(d).catch(() => [] as string[])) {
      const p = join(d, name);
      const st = await lstat(p).catch(() => undefined);
      if (st?.isDirectory()) await walk(p);
      else if (st?.isFile() && (await readFile(p).catch(() => Buffer.alloc(0))).includes(needle)) found.push(p);
    }
  };
  await walk(dir);
  return found;
}

/** Mount points at or below `dir` in this mount namespace. */
async function mountsUnder(dir: string): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  return text
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((p) => p === dir || p.startsWith(`${dir}/`));
}

/** Re-hashes every blob index.json reaches (manifests, configs, layers); returns how many. */
async function rehashReferenced(store: string): Promise<number> {
  const seen = new Set<string>();
  const blob = async (digest: string): Promise<Buffer> => {
    const hex = digest.slice('sha256:'.length);
    const bytes = await readFile(join(store, 'blobs', 'sha256', hex));
    assert.equal(createHash('sha256').update(bytes).digest('hex'), hex, `blob ${digest} re-hashes`);
    seen.add(digest);
    return bytes;
  };
  type Doc = { manifests?: { digest: string }[]; config?: { digest: string }; layers?: { digest: string }[] };
  const visit = async (doc: Doc): Promise<void> => {
    for (const m of doc.manifests ?? []) await visit(JSON.parse((await blob(m.digest)).toString()) as Doc);
    if (doc.config) await blob(doc.config.digest);
    for (const l of doc.layers ?? []) await blob(l.digest);
  };
  await visit(JSON.parse(await readFile(join(store, 'index.json'), 'utf8')) as Doc);
  return seen.size;
}

interface Killed {
  /** Host pid the RUN printed (outside a PID namespace only `none` gives a usable one). */
  readonly pid: number;
}

/** Starts a build whose RUN sleeps (with the secret mounted unless `none`), SIGKILLs gantry once the RUN runs. */
async function killMidRun(tmp: string, store: string, isolation: string, withSecret: boolean): Promise<Killed> {
  const ctx = join(tmp, 'ctx');
  const mount = withSecret ? '--mount=type=secret,id=tok ' : '';
  const read = withSecret ? 'wc -c /run/secrets/tok; ' : '';
  await writeTree(ctx, {
    Dockerfile: `FROM busybox:1\nRUN ${mount}sh -c '${read}echo "running pid=$$"; exec sleep 600'\n`,
  });
  const child = spawn(
    process.execPath,
    [
      gantryBin,
      'build',
      ctx,
      '--progress',
      'plain',
      '--isolation',
      isolation,
      '--secret',
      'id=tok,env=KILL_TEST_TOKEN',
    ],
    {
      env: { ...process.env, GANTRY_STORE: store, TMPDIR: join(tmp, 'tmp'), KILL_TEST_TOKEN: SECRET },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  const exited = new Promise((done) => child.once('close', done));
  const running = new Promise<number>((done) => {
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
      const m = /running pid=(\d+)/.exec(stderr);
      if (m) done(Number(m[1]));
    });
  });
  const pid = await Promise.race([running, exited.then(() => Number.NaN)]);
  child.kill('SIGKILL');
  await exited;
  assert.ok(!Number.isNaN(pid), `the RUN never started: ${stderr}`);
  return { pid };
}

for (const isolation of ['bwrap', 'chroot', 'none'] as const) {
  test(`SIGKILL mid-RUN (${isolation}): no secret on disk, the next command unmounts and removes the leftovers`, {
    timeout: 120_000,
  }, async (t) => {
    if (!(await isolationAvailable(isolation))) {
      t.skip(`isolation ${isolation} is not available here`);
      return;
    }
    await withTempDir(async (tmp) => {
      await mkdir(join(tmp, 'tmp'));
      const store = await busyboxStore(tmp);
      const snapshots = join(store, 'cache', 'snapshots');
      const overlay = await overlayAvailable({ dir: snapshots });
      // `none` cannot mount, so a secret is refused before anything is written.
      const withSecret = isolation !== 'none';
      const killed = await killMidRun(tmp, store, isolation, withSecret);
      try {
        assert.deepEqual(await filesContaining(tmp, SECRET), [], 'no file holds the secret, even right after the kill');
        // What the kill left: the step root (mounted with overlay) and the run directory.
        assert.ok((await readdir(snapshots)).length > 0, 'the killed build left its snapshot');
        if (overlay) assert.ok((await mountsUnder(snapshots)).length > 0, 'the killed build left its overlay mount');
        const runDirs = (await readdir(join(tmp, 'tmp'))).filter((n) => n.startsWith('gantry-run-'));
        assert.equal(runDirs.length, 1, 'the killed build left its run directory');

        const next = await gantry(['prune'], { store, env: { TMPDIR: join(tmp, 'tmp') } });
        assert.equal(next.code, 0, next.stderr);
        assert.deepEqual(await mountsUnder(store), [], 'no mount is left under the store');
        assert.deepEqual(await readdir(snapshots), [], 'no snapshot directory is left');
        assert.deepEqual(await readdir(join(tmp, 'tmp')), [], 'no run directory is left');
        assert.deepEqual(await readdir(join(store, 'leases')).catch(() => []), [], 'no lease is left');
        assert.deepEqual(await filesContaining(tmp, SECRET), []);
        assert.ok((await rehashReferenced(store)) >= 3, 'every referenced blob re-hashes');
      } finally {
        // `none` has no PID namespace: its sleep outlives gantry (and keeps the lazy unmount busy).
        if (isolation === 'none') {
          try {
            process.kill(killed.pid, 'SIGKILL');
          } catch {}
        }
      }
    });
  });
}

test('a secret under isolation none is refused and never written to disk', async () => {
  await withTempDir(async (tmp) => {
    const store = await busyboxStore(tmp);
    const ctx = join(tmp, 'ctx');
    await writeTree(ctx, { Dockerfile: 'FROM busybox:1\nRUN --mount=type=secret,id=tok cat /run/secrets/tok\n' });
    await mkdir(join(tmp, 'tmp'));
    const r = await gantry(['build', ctx, '--isolation', 'none', '--secret', 'id=tok,env=KILL_TEST_TOKEN'], {
      store,
      env: { TMPDIR: join(tmp, 'tmp'), KILL_TEST_TOKEN: SECRET },
    });
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, /isolation none cannot mount/);
    assert.deepEqual(await filesContaining(tmp, SECRET), []);
  });
});
