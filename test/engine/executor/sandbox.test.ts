// The same RUN behaviours pinned for every sandbox this machine allows (bwrap, unshare + chroot,
// none), on private copies of the busybox fixture rootfs. A sandbox that is not available here is
// skipped with the reason; the ones that are run the real tools, nothing is mocked.
import assert from 'node:assert/strict';
import { appendFile, lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  detectIsolation,
  type Isolation,
  isolationAvailable,
  RunFailedError,
  runInSandbox,
  runOrThrow,
} from '../../../src/engine/executor/index.js';
import { GantryError } from '../../../src/errors.js';
import { busyboxRootfs } from '../../harness/fixtures.js';
import { run } from '../../harness/run.js';
import { collect, hostProcesses, PATH_ENV, rootfsCopy, tempDir } from './helpers.js';

const isRoot = process.getuid?.() === 0;
const available = new Map<Isolation, boolean>();
for (const iso of ['bwrap', 'chroot', 'none'] as const) available.set(iso, await isolationAvailable(iso));

/** ns-precision mtime, to prove a run left a directory exactly as it was. */
async function mtimeNs(path: string): Promise<bigint> {
  return (await stat(path, { bigint: true })).mtimeNs;
}

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}

for (const iso of ['bwrap', 'chroot', 'none'] as const) {
  const skip = available.get(iso) ? false : `isolation ${iso} is not available on this machine`;
  const namespaces = iso !== 'none';

  describe(`isolation ${iso}`, { skip }, () => {
    test('streams stdout and stderr line by line, in order, and exits 0', async (t) => {
      const root = await rootfsCopy(t);
      const r = await collect(iso, {
        rootfs: root,
        args: ['sh', '-c', 'echo hello; echo oops >&2; printf "no newline"'],
      });
      assert.equal(r.exitCode, 0);
      assert.deepEqual(r.stdout, ['hello', 'no newline']);
      assert.deepEqual(r.stderr, ['oops']);
      assert.deepEqual([...r.tail].sort(), ['hello', 'no newline', 'oops']);
    });

    test('a non-zero exit is reported with the last lines of output; runOrThrow throws RUN_FAILED', async (t) => {
      const root = await rootfsCopy(t);
      const script = 'i=0; while [ $i -lt 30 ]; do echo line$i; i=$((i+1)); done; echo boom >&2; exit 3';
      const r = await collect(iso, { rootfs: root, args: ['/bin/sh', '-c', script] });
      assert.equal(r.exitCode, 3);
      assert.equal(r.tail.length, 20);
      assert.equal(r.tail.at(-1), 'boom');
      assert.equal(r.tail[0], 'line11');

      const err = await runOrThrow(
        { rootfs: root, args: ['/bin/sh', '-c', script], env: [PATH_ENV], cwd: '/' },
        { isolation: iso },
      ).then(
        () => assert.fail('runOrThrow resolved'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof RunFailedError);
      assert.equal(err.code, 'RUN_FAILED');
      assert.equal(err.exitCode, 3);
      assert.match(err.message, /^process "\/bin\/sh -c i=0; .*" did not complete successfully: exit code: 3$/);
      assert.ok(!err.message.includes('\n'));
      assert.match(err.suggestion ?? '', /boom/);
      assert.equal(err.tail.at(-1), 'boom');
    });

    test('a command that does not exist exits 127', async (t) => {
      const root = await rootfsCopy(t);
      const r = await collect(iso, { rootfs: root, args: ['/no/such/program'] });
      assert.equal(r.exitCode, 127);
      assert.match(r.stderr.join('\n'), /no\/such\/program/);
    });

    test('the environment is exactly the one given, plus HOME as runc sets it: nothing of the host, nothing of the sandbox', async (t) => {
      const root = await rootfsCopy(t);
      const env = [PATH_ENV, 'FOO=bar baz', 'EMPTY=', 'LD_PRELOAD=', 'MULTI=a=b'];
      const r = await collect(iso, { rootfs: root, args: ['env'], env });
      assert.equal(r.exitCode, 0);
      assert.deepEqual([...r.stdout].sort(), [...env, 'HOME=/root'].sort(), "root's home from /etc/passwd");
      const given = await collect(iso, { rootfs: root, args: ['env'], env: [...env, 'HOME=/given'] });
      assert.deepEqual([...given.stdout].sort(), [...env, 'HOME=/given'].sort(), 'a HOME that is given is kept');
      const unknown = await collect(iso, { rootfs: root, user: '4321', args: ['sh', '-c', 'echo $HOME'], env });
      assert.deepEqual(unknown.stdout, ['/'], 'a uid without a passwd entry: /');
    });

    test('USER nobody, 1000:1000 and a name from /etc/passwd run with those ids and groups', async (t) => {
      const root = await rootfsCopy(t);
      await appendFile(join(root, 'etc/passwd'), 'builder:x:1234:2345:builder:/home:/bin/sh\n');
      await appendFile(join(root, 'etc/group'), 'builders:x:2345:\ndevs:x:3000:someone,builder\nops:x:3001:builder\n');
      const ids = async (user: string) => {
        const r = await collect(iso, { rootfs: root, user, args: ['sh', '-c', 'echo $(id -u) $(id -g) $(id -G)'] });
        assert.equal(r.exitCode, 0, r.tail.join('\n'));
        return r.stdout[0];
      };
      assert.equal(await ids('nobody'), '65534 65534 65534');
      assert.equal(await ids('1000:1000'), '1000 1000 1000');
      assert.equal(await ids('builder'), '1234 2345 2345 3000 3001');
      assert.equal(await ids('builder:devs'), '1234 3000 3000');
      assert.equal(await ids('4321'), '4321 0 0');
      assert.equal(await ids(''), '0 0 0');
      // Issue 9: busybox's `id` prints only what getgroups(2) returns; runc, buildah and BuildKit
      // set the primary gid among the supplementary groups, so `groups=` is never missing.
      const full = async (user: string) => (await collect(iso, { rootfs: root, user, args: ['id'] })).stdout[0];
      assert.equal(
        await full('builder'),
        'uid=1234(builder) gid=2345(builders) groups=2345(builders),3000(devs),3001(ops)',
      );
      assert.equal(await full('builder:ops'), 'uid=1234(builder) gid=3001(ops) groups=3001(ops)');
      assert.equal(await full('nobody'), 'uid=65534(nobody) gid=65534(nobody) groups=65534(nobody)');
      assert.equal(await full(''), 'uid=0(root) gid=0(root) groups=0(root)');
    });

    test('a user the image does not define is a clear error before anything runs', async (t) => {
      const root = await rootfsCopy(t);
      const err = await collect(iso, { rootfs: root, user: 'ghost', args: ['true'] }).then(
        () => assert.fail('resolved'),
        (e: unknown) => e,
      );
      assert.ok(GantryError.is(err));
      assert.equal(err.code, 'USER_NOT_FOUND');
      assert.match(err.message, /unable to find user ghost/);
    });

    test('the working directory is created when missing, root-owned 0755, and the command starts in it', async (t) => {
      const root = await rootfsCopy(t);
      const r = await collect(iso, { rootfs: root, cwd: '/srv/app/deep', user: 'nobody', args: ['pwd'] });
      assert.equal(r.exitCode, 0);
      assert.deepEqual(r.stdout, ['/srv/app/deep']);
      const st = await stat(join(root, 'srv/app/deep'));
      assert.ok(st.isDirectory());
      assert.equal(st.mode & 0o7777, 0o755);
      assert.equal(st.uid, 0);
    });

    test('a working directory that is a file is an error', async (t) => {
      const root = await rootfsCopy(t);
      await writeFile(join(root, 'afile'), 'x');
      await assert.rejects(
        collect(iso, { rootfs: root, cwd: '/afile', args: ['true'] }),
        /not a directory|ENOTDIR|EEXIST/,
      );
    });

    test('resolv.conf is the host one inside; the rootfs keeps its own file, untouched', async (t) => {
      const root = await rootfsCopy(t);
      const own = 'nameserver 192.0.2.53\n';
      await writeFile(join(root, 'etc/resolv.conf'), own);
      const before = await stat(join(root, 'etc/resolv.conf'), { bigint: true });
      const host = await readFile('/etc/resolv.conf', 'utf8').catch(() => undefined);
      const r = await collect(iso, { rootfs: root, args: ['cat', '/etc/resolv.conf'] });
      assert.equal(r.exitCode, 0);
      if (namespaces && host !== undefined) assert.deepEqual(r.stdout, host.replace(/\n$/, '').split('\n'));
      else assert.deepEqual(r.stdout, ['nameserver 192.0.2.53']);
      const after = await stat(join(root, 'etc/resolv.conf'), { bigint: true });
      assert.equal(await readFile(join(root, 'etc/resolv.conf'), 'utf8'), own);
      assert.equal(after.mtimeNs, before.mtimeNs);
      assert.equal(after.ino, before.ino);
    });

    test('writing resolv.conf or hosts never reaches the rootfs', async (t) => {
      const root = await rootfsCopy(t);
      const r = await collect(iso, {
        rootfs: root,
        args: ['sh', '-c', 'echo evil >> /etc/resolv.conf; echo evil >> /etc/hosts; true'],
      });
      assert.equal(r.exitCode, 0);
      assert.equal(await exists(join(root, 'etc/resolv.conf')), false);
      assert.equal(await exists(join(root, 'etc/hosts')), false);
    });

    test('hosts resolves the sandbox hostname', {
      skip: namespaces ? false : 'none cannot set a hostname',
    }, async (t) => {
      const root = await rootfsCopy(t);
      const r = await collect(iso, {
        rootfs: root,
        hostname: 'step-7',
        args: ['sh', '-c', 'hostname; grep -c step-7 /etc/hosts'],
      });
      assert.deepEqual(r.stdout, ['step-7', '1']);
    });

    test('a run leaves no mount stub behind and the directories it touched keep their mtimes', async (t) => {
      const root = await rootfsCopy(t);
      const rootBefore = await mtimeNs(root);
      const etcBefore = await mtimeNs(join(root, 'etc'));
      const entriesBefore = (await readdir(root)).sort();
      const r = await collect(iso, {
        rootfs: root,
        args: ['sh', '-c', 'ls /dev >/dev/null; cat /etc/hosts >/dev/null'],
      });
      assert.equal(r.exitCode, 0, r.tail.join('\n'));
      assert.deepEqual((await readdir(root)).sort(), entriesBefore);
      assert.deepEqual((await readdir(join(root, 'etc'))).sort(), ['group', 'passwd']);
      assert.equal(await mtimeNs(root), rootBefore);
      assert.equal(await mtimeNs(join(root, 'etc')), etcBefore);
    });

    test('a symlinked /etc/resolv.conf that points out of the rootfs cannot make us touch the host', async (t) => {
      const root = await rootfsCopy(t);
      const outside = await tempDir(t, 'gantry-exec-outside-');
      await symlink(join(outside, 'resolv.conf'), join(root, 'etc/resolv.conf'));
      const r = await collect(iso, { rootfs: root, args: ['true'] });
      assert.equal(r.exitCode, 0, r.tail.join('\n'));
      assert.deepEqual(await readdir(outside), []);
      assert.ok((await lstat(join(root, 'etc/resolv.conf'))).isSymbolicLink());
      // Resolved inside the rootfs: the stub went to <root><outside>/resolv.conf and is gone again.
      assert.equal(await exists(join(root, outside, 'resolv.conf')), false);
    });

    test('stdin is empty', async (t) => {
      const root = await rootfsCopy(t);
      const r = await collect(iso, { rootfs: root, args: ['sh', '-c', 'cat; echo end'] });
      assert.deepEqual(r.stdout, ['end']);
    });

    test('aborting kills the whole process tree', async (t) => {
      const root = await rootfsCopy(t);
      const n = String(100000 + Math.floor(Math.random() * 800000));
      const controller = new AbortController();
      let started = false;
      const running = runInSandbox(
        {
          rootfs: root,
          args: ['sh', '-c', `sleep ${n} & echo started; sleep ${n}`],
          env: [PATH_ENV],
          cwd: '/',
          signal: controller.signal,
          onOutput: (line) => {
            if (line === 'started') {
              started = true;
              controller.abort();
            }
          },
        },
        { isolation: iso },
      );
      await assert.rejects(running, (e: unknown) => GantryError.is(e) && e.code === 'ABORTED');
      assert.ok(started);
      // Killed processes may linger as zombies for a moment; a zombie has an empty cmdline.
      let left = await hostProcesses(['sleep', n]);
      for (let i = 0; i < 50 && left.length > 0; i++) {
        await new Promise((r) => setTimeout(r, 100));
        left = await hostProcesses(['sleep', n]);
      }
      assert.deepEqual(left, [], `sleep ${n} survived the abort`);
    });

    test('an already aborted signal runs nothing', async (t) => {
      const root = await rootfsCopy(t);
      const controller = new AbortController();
      controller.abort();
      await assert.rejects(
        runInSandbox(
          { rootfs: root, args: ['touch', '/ran'], env: [PATH_ENV], cwd: '/', signal: controller.signal },
          { isolation: iso },
        ),
        (e: unknown) => GantryError.is(e) && e.code === 'ABORTED',
      );
      assert.equal(await exists(join(root, 'ran')), false);
    });

    test('files the command writes land in the rootfs with the user as owner', async (t) => {
      const root = await rootfsCopy(t);
      const r = await collect(iso, { rootfs: root, user: '1000:1000', args: ['sh', '-c', 'echo hi > /tmp/made'] });
      assert.equal(r.exitCode, 0, r.tail.join('\n'));
      const st = await stat(join(root, 'tmp/made'));
      assert.equal(st.uid, 1000);
      assert.equal(st.gid, 1000);
      assert.equal(await readFile(join(root, 'tmp/made'), 'utf8'), 'hi\n');
    });

    if (namespaces) {
      test('a fresh PID namespace: only the sandbox processes are visible', async (t) => {
        const root = await rootfsCopy(t);
        const r = await collect(iso, {
          rootfs: root,
          args: ['sh', '-c', 'ls /proc | grep -E "^[0-9]+$" | sort -n | tr "\\n" " "'],
        });
        assert.equal(r.exitCode, 0);
        const pids = (r.stdout[0] ?? '').trim().split(' ').map(Number);
        assert.equal(pids[0], 1);
        // PID 1 (the sandbox's reaper), the shell, ls/grep/sort/tr: a handful, never the host's hundreds.
        assert.ok(pids.length <= 8, `saw pids ${pids.join(' ')}`);
      });

      test('a minimal /dev with working device nodes, pts and shm', async (t) => {
        const root = await rootfsCopy(t);
        const script = [
          'for n in null zero full random urandom tty ptmx pts shm fd stdin stdout stderr; do [ -e /dev/$n ] || echo missing $n; done',
          'head -c 4 /dev/zero | od -An -tx1',
          'echo x > /dev/null && echo null-ok',
          '[ -c /dev/null ] && echo char-ok',
          'touch /dev/shm/x && echo shm-ok',
        ].join('; ');
        const r = await collect(iso, { rootfs: root, args: ['sh', '-c', script], user: 'nobody' });
        assert.deepEqual(r.stdout, [' 00 00 00 00', 'null-ok', 'char-ok', 'shm-ok']);
        assert.equal(await exists(join(root, 'dev')), false);
      });

      test('network none leaves only loopback, up; the default is the host network', async (t) => {
        const root = await rootfsCopy(t);
        const ifaces = (lines: readonly string[]) =>
          lines
            .slice(2)
            .map((l) => l.split(':')[0]!.trim())
            .sort();
        const none = await collect(iso, { rootfs: root, network: 'none', args: ['cat', '/proc/net/dev'] });
        assert.deepEqual(ifaces(none.stdout), ['lo']);
        const host = await collect(iso, { rootfs: root, args: ['cat', '/proc/net/dev'] });
        const mine = (await readFile('/proc/net/dev', 'utf8')).trim().split('\n');
        assert.deepEqual(ifaces(host.stdout), ifaces(mine));
        const lo = await collect(iso, {
          rootfs: root,
          network: 'none',
          args: ['sh', '-c', 'ping -c1 -W2 127.0.0.1 >/dev/null && echo up'],
        });
        assert.deepEqual(lo.stdout, ['up']);
      });

      test('root in the sandbox has Docker capabilities, not CAP_SYS_ADMIN', async (t) => {
        const root = await rootfsCopy(t);
        const r = await collect(iso, {
          rootfs: root,
          args: ['sh', '-c', 'grep CapEff /proc/self/status; mount -t tmpfs x /mnt 2>/dev/null && echo mounted'],
        });
        assert.equal(r.stdout.length, 1, r.stdout.join('\n'));
        const eff = BigInt(`0x${r.stdout[0]!.split(/\s+/)[1]}`);
        assert.equal(eff & (1n << 21n), 0n, 'CAP_SYS_ADMIN is set');
        assert.notEqual(eff & (1n << 0n), 0n, 'CAP_CHOWN is missing');
      });

      test('extra bind mounts: read-only and read-write, stubs removed afterwards', async (t) => {
        const root = await rootfsCopy(t);
        const src = await tempDir(t, 'gantry-exec-src-');
        await writeFile(join(src, 'data'), 'payload\n');
        const cache = await tempDir(t, 'gantry-exec-cache-');
        const r = await collect(iso, {
          rootfs: root,
          mounts: [
            { source: src, target: '/mnt/src', readonly: true },
            { source: cache, target: '/var/cache/x' },
          ],
          args: [
            'sh',
            '-c',
            'cat /mnt/src/data; touch /mnt/src/no 2>/dev/null || echo ro; echo kept > /var/cache/x/out',
          ],
        });
        assert.deepEqual(r.stdout, ['payload', 'ro']);
        assert.equal(await readFile(join(cache, 'out'), 'utf8'), 'kept\n');
        assert.equal(await exists(join(root, 'mnt')), false);
        assert.equal(await exists(join(root, 'var')), false);
      });
    } else {
      test('none refuses what it cannot do: network none and mounts', async (t) => {
        const root = await rootfsCopy(t);
        await assert.rejects(
          collect(iso, { rootfs: root, network: 'none', args: ['true'] }),
          /ISOLATION_UNSUPPORTED|cannot isolate/,
        );
        await assert.rejects(
          collect(iso, { rootfs: root, mounts: [{ source: root, target: '/mnt' }], args: ['true'] }),
          /cannot mount/,
        );
      });

      test('none removes its helper files and device nodes afterwards', async (t) => {
        const root = await rootfsCopy(t);
        const r = await collect(iso, {
          rootfs: root,
          args: ['sh', '-c', 'echo x > /dev/null; ls /.gantry-run >/dev/null && echo helper'],
        });
        assert.deepEqual(r.stdout, ['helper']);
        assert.equal(await exists(join(root, '.gantry-run')), false);
        assert.equal(await exists(join(root, 'dev')), false);
      });
    }
  });
}

describe('rootless (a user namespace when not root)', {
  skip: isRoot ? false : 'the test drops from root to nobody',
}, () => {
  for (const iso of ['bwrap', 'chroot'] as const) {
    test(`${iso}: the caller is root inside and owns what the command writes`, async (t) => {
      if (!available.get(iso)) return t.skip(`isolation ${iso} is not available`);
      const root = await rootfsCopy(t);
      await run('chown', ['-R', '65534:65534', join(root, '..')]);
      const module = new URL('../../../src/engine/executor/index.js', import.meta.url).href;
      const script = `
        const { runInSandbox } = await import(${JSON.stringify(module)});
        const lines = [];
        const r = await runInSandbox({ rootfs: ${JSON.stringify(root)}, args: ['sh', '-c', 'id -u; touch /made'], env: ['PATH=/bin'], cwd: '/',
          onOutput: (l) => lines.push(l) }, { isolation: ${JSON.stringify(iso)} });
        console.log(JSON.stringify({ exitCode: r.exitCode, lines }));`;
      const res = await run(
        'setpriv',
        ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '--input-type=module', '-e', script],
        {
          env: { PATH: process.env.PATH, HOME: '/tmp' },
          allowFailure: true,
        },
      );
      if (res.code !== 0 && /user namespace|Operation not permitted|NO_SANDBOX/.test(res.stderr)) {
        return t.skip(`unprivileged user namespaces are not allowed here: ${res.stderr.trim().split('\n').at(-1)}`);
      }
      assert.equal(res.code, 0, res.stderr);
      assert.deepEqual(JSON.parse(res.stdout), { exitCode: 0, lines: ['0'] });
      const st = await stat(join(root, 'made'));
      assert.equal(st.uid, 65534);
    });
  }

  test('chroot refuses a non-root USER without root: there is no one to map it to', async (t) => {
    if (!available.get('chroot')) return t.skip('isolation chroot is not available');
    const root = await rootfsCopy(t);
    await run('chown', ['-R', '65534:65534', join(root, '..')]);
    const module = new URL('../../../src/engine/executor/index.js', import.meta.url).href;
    const script = `
      const { runInSandbox } = await import(${JSON.stringify(module)});
      try { await runInSandbox({ rootfs: ${JSON.stringify(root)}, args: ['true'], env: [], cwd: '/', user: 'nobody' }, { isolation: 'chroot' }); console.log('ran'); }
      catch (e) { console.log(e.code); }`;
    const res = await run(
      'setpriv',
      ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '--input-type=module', '-e', script],
      {
        env: { PATH: process.env.PATH, HOME: '/tmp' },
      },
    );
    assert.equal(res.stdout.trim(), 'ROOTLESS_USER_UNSUPPORTED');
  });
});

test('a missing rootfs is a clear error', async (t) => {
  const dir = await tempDir(t);
  await assert.rejects(
    runInSandbox({ rootfs: join(dir, 'nope'), args: ['true'], env: [], cwd: '/' }, { isolation: 'bwrap' }),
    (e: unknown) => GantryError.is(e) && e.code === 'ROOTFS_MISSING',
  );
});

test('detectIsolation picks the strongest sandbox available, never none; runInSandbox uses it by default', async (t) => {
  const want = available.get('bwrap') ? 'bwrap' : available.get('chroot') ? 'chroot' : undefined;
  if (want === undefined) {
    await assert.rejects(detectIsolation(), (e: unknown) => GantryError.is(e) && e.code === 'NO_SANDBOX');
    return;
  }
  assert.equal(await detectIsolation(), want);
  const root = await rootfsCopy(t);
  const r = await runInSandbox({ rootfs: root, args: ['cat', '/proc/1/cmdline'], env: [PATH_ENV], cwd: '/' });
  assert.equal(r.exitCode, 0);
});

describe('on an overlay mount, as the engine runs steps', {
  skip: isRoot ? false : 'mounting overlayfs needs root',
}, () => {
  for (const iso of ['bwrap', 'chroot', 'none'] as const) {
    // What the snapshotter gets from a no-op RUN: no stub and no whiteout in the upper dir, only
    // parents of mount stubs (here /etc) copied up with the lower directory's metadata unchanged.
    test(`${iso}: a no-op run leaves only unchanged copied-up parents in the upper dir`, async (t) => {
      if (!available.get(iso)) return t.skip(`isolation ${iso} is not available`);
      const lower = await busyboxRootfs('amd64');
      // One hook, so the overlay is unmounted before its directories are removed.
      const dir = await mkdtemp(join(tmpdir(), 'gantry-exec-ovl-'));
      const [upper, work, merged] = ['upper', 'work', 'merged'].map((d) => join(dir, d)) as [string, string, string];
      t.after(async () => {
        await run('umount', [merged], { allowFailure: true });
        await rm(dir, { recursive: true, force: true });
      });
      for (const d of [upper, work, merged]) await mkdir(d);
      const options = `lowerdir=${lower},upperdir=${upper},workdir=${work}`;
      await run('mount', ['-t', 'overlay', 'overlay', '-o', options, merged]);
      const r = await collect(iso, { rootfs: merged, args: ['true'] });
      assert.equal(r.exitCode, 0, r.tail.join('\n'));
      const entries = await readdir(upper, { recursive: true });
      for (const rel of entries) {
        const up = await lstat(join(upper, rel), { bigint: true });
        const low = await lstat(join(lower, rel), { bigint: true });
        assert.ok(up.isDirectory(), `${rel} in the upper dir is not a directory`);
        assert.equal(up.mode, low.mode, rel);
        assert.equal(up.uid, low.uid, rel);
        assert.equal(up.mtimeNs, low.mtimeNs, rel);
      }
      assert.ok(
        entries.every((e) => e === 'etc'),
        `upper holds ${entries.join(', ')}`,
      );
    });
  }
});
