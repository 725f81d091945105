// Table tests for the executor's pure parts and small file readers: USER resolution against
// /etc/passwd and /etc/group (BuildKit's fast path, then runc's rules), in-root path resolution,
// ldd and bwrap status parsing, binfmt entries, output lines and the failure message.
import assert from 'node:assert/strict';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseLdd } from '../../../src/engine/executor/host.js';
import { RunFailedError, resolveInRoot, resolveUser } from '../../../src/engine/executor/index.js';
import { LineSplitter, Tail } from '../../../src/engine/executor/output.js';
import { parseBinfmtEntry } from '../../../src/engine/executor/platform.js';
import { bwrapExitCode } from '../../../src/engine/executor/process.js';
import { GantryError } from '../../../src/errors.js';
import { tempDir } from './helpers.js';

const PASSWD = `# comment
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1::/:/bin/false
app:x:1000:1000:app:/home/app:/bin/sh
+nis-entry
svc:x:2000:50::/:/bin/false
`;
const GROUP = `root:x:0:
daemon:x:1:
app:x:1000:
staff:x:50:svc
wheel:x:10:app,root
docker:x:999:svc, app
`;

test('resolveUser follows runc and buildah: numeric pairs as is, names and lone uids through /etc/passwd and /etc/group, the primary gid first among the groups', async (t) => {
  const root = await tempDir(t);
  await mkdir(join(root, 'etc'));
  await writeFile(join(root, 'etc/passwd'), PASSWD);
  await writeFile(join(root, 'etc/group'), GROUP);
  const table: [string, { uid: number; gid: number; groups: number[] }][] = [
    ['', { uid: 0, gid: 0, groups: [0] }],
    ['root', { uid: 0, gid: 0, groups: [0, 10] }],
    ['0', { uid: 0, gid: 0, groups: [0, 10] }],
    ['app', { uid: 1000, gid: 1000, groups: [1000, 10, 999] }],
    ['1000', { uid: 1000, gid: 1000, groups: [1000, 10, 999] }],
    ['app:staff', { uid: 1000, gid: 50, groups: [50] }],
    ['app:50', { uid: 1000, gid: 50, groups: [50] }],
    ['app:4242', { uid: 1000, gid: 4242, groups: [4242] }],
    ['1000:1000', { uid: 1000, gid: 1000, groups: [1000] }],
    ['root:root', { uid: 0, gid: 0, groups: [0] }],
    ['5555', { uid: 5555, gid: 0, groups: [0] }],
    ['5555:staff', { uid: 5555, gid: 50, groups: [50] }],
    // svc's primary group is not repeated when /etc/group also lists svc in it.
    ['svc', { uid: 2000, gid: 50, groups: [50, 999] }],
  ];
  for (const [user, want] of table) assert.deepEqual(await resolveUser(root, user), want, `USER ${user}`);

  const codes: [string, string][] = [
    ['ghost', 'USER_NOT_FOUND'],
    ['nis-entry', 'USER_NOT_FOUND'],
    ['app:ghosts', 'GROUP_NOT_FOUND'],
    ['app:', 'INVALID_USER'],
    [':staff', 'INVALID_USER'],
    ['a:b:c', 'INVALID_USER'],
    ['99999999999', 'USER_NOT_FOUND'],
  ];
  for (const [user, code] of codes) {
    await assert.rejects(resolveUser(root, user), (e: unknown) => GantryError.is(e) && e.code === code, `USER ${user}`);
  }
});

test('resolveUser in an image without /etc/passwd: numbers and root work, names do not', async (t) => {
  const root = await tempDir(t);
  assert.deepEqual(await resolveUser(root, '1000'), { uid: 1000, gid: 0, groups: [0] });
  assert.deepEqual(await resolveUser(root, 'root'), { uid: 0, gid: 0, groups: [0] });
  await assert.rejects(resolveUser(root, 'app'), /unable to find user app: the image has no \/etc\/passwd/);
  await assert.rejects(resolveUser(root, '1000:staff'), /unable to find group staff: the image has no \/etc\/group/);
});

test('resolveUser reads the image files even through an absolute symlink, never the host ones', async (t) => {
  const root = await tempDir(t);
  await mkdir(join(root, 'real'));
  await writeFile(join(root, 'real/passwd'), 'only:x:7:7::/:/bin/sh\n');
  await symlink('/real', join(root, 'etc'));
  assert.deepEqual(await resolveUser(root, 'only'), { uid: 7, gid: 7, groups: [7] });
  // The host has a root user with a home; the image's passwd does not, so `daemon` is unknown.
  await assert.rejects(resolveUser(root, 'daemon'), /USER|unable to find user daemon/);
});

test('resolveInRoot follows symlinks but never climbs out of the root', async (t) => {
  const root = await tempDir(t);
  await mkdir(join(root, 'a/b'), { recursive: true });
  await symlink('/a/b', join(root, 'abs'));
  await symlink('../../../../..', join(root, 'a/up'));
  await symlink('b', join(root, 'a/rel'));
  await symlink('loop2', join(root, 'loop1'));
  await symlink('loop1', join(root, 'loop2'));
  const table: [string, string][] = [
    ['/', '/'],
    ['', '/'],
    ['/a/b', '/a/b'],
    ['/abs/c', '/a/b/c'],
    ['/a/up/etc/passwd', '/etc/passwd'],
    ['/../../etc', '/etc'],
    ['/a/rel/./x/../y', '/a/b/y'],
    ['/missing/../a', '/a'],
  ];
  for (const [input, want] of table) assert.equal(await resolveInRoot(root, input), want, input);
  await assert.rejects(resolveInRoot(root, '/loop1/x'), (e: unknown) => GantryError.is(e) && e.code === 'SYMLINK_LOOP');
});

test('parseLdd finds the loader and the libraries, not the vDSO', () => {
  const text = `\tlinux-vdso.so.1 (0x00007ffd1d5f1000)
\tlibcap-ng.so.0 => /lib/x86_64-linux-gnu/libcap-ng.so.0 (0x00007f69e3dcd000)
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f69e3beb000)
\t/lib64/ld-linux-x86-64.so.2 (0x00007f69e3dfc000)
`;
  assert.deepEqual(parseLdd(text), {
    loader: '/lib64/ld-linux-x86-64.so.2',
    libs: ['/lib/x86_64-linux-gnu/libcap-ng.so.0', '/lib/x86_64-linux-gnu/libc.so.6'],
  });
  assert.deepEqual(parseLdd('\tnot a dynamic executable\n'), { libs: [] });
});

test('bwrapExitCode reads the exit-code bwrap reports only for a command it started', () => {
  assert.equal(bwrapExitCode('{ "child-pid": 12, "mnt-namespace": 4 }\n{ "exit-code": 3 }\n'), 3);
  assert.equal(bwrapExitCode('{ "child-pid": 12 }\n'), undefined);
  assert.equal(bwrapExitCode(''), undefined);
  assert.equal(bwrapExitCode('{ "child-pid": 1 }\n{ "exit-co'), undefined);
});

test('parseBinfmtEntry reads the enabled state, interpreter and flags', () => {
  const e = parseBinfmtEntry('enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: PF\noffset 0\n');
  assert.deepEqual(e, { enabled: true, interpreter: '/usr/libexec/qemu-binfmt/aarch64-binfmt-P', flags: 'PF' });
  assert.equal(parseBinfmtEntry('disabled\ninterpreter /x\nflags: \n').enabled, false);
});

test('LineSplitter cuts lines across chunks, keeps UTF-8 whole, drops \\r of \\r\\n and bounds long lines', () => {
  const lines: string[] = [];
  const s = new LineSplitter((l) => lines.push(l));
  const euro = Buffer.from('€');
  s.write(Buffer.from('one\r\ntw'));
  s.write(Buffer.concat([Buffer.from('o '), euro.subarray(0, 1)]));
  s.write(Buffer.concat([euro.subarray(1), Buffer.from('\n\nlast')]));
  s.end();
  assert.deepEqual(lines, ['one', 'two €', '', 'last']);

  const long: string[] = [];
  const l = new LineSplitter((x) => long.push(x));
  l.write(Buffer.alloc(200 * 1024, 'a'));
  l.end();
  assert.ok(long.length >= 3);
  assert.ok(long.every((x) => x.length <= 64 * 1024));
  assert.equal(long.join('').length, 200 * 1024);
});

test('Tail keeps the last lines, oldest first', () => {
  const tail = new Tail(3);
  for (const x of ['a', 'b', 'c', 'd', 'e']) tail.push(x);
  assert.deepEqual(tail.lines, ['c', 'd', 'e']);
});

test('RunFailedError: one line naming the command and exit code, the last output as the suggestion', () => {
  const err = new RunFailedError(['/bin/sh', '-c', 'apt-get update\napt-get install -y x'], {
    exitCode: 100,
    tail: ['Reading package lists...', 'E: Unable to locate package x', ''],
  });
  assert.equal(err.code, 'RUN_FAILED');
  assert.equal(err.phase, 'build');
  assert.equal(
    err.message,
    'process "/bin/sh -c apt-get update\\napt-get install -y x" did not complete successfully: exit code: 100',
  );
  assert.equal(err.suggestion, 'its last output: Reading package lists... | E: Unable to locate package x');
  assert.ok(GantryError.is(err));
  const quiet = new RunFailedError(['false'], { exitCode: 1, tail: [] });
  assert.match(quiet.suggestion ?? '', /printed nothing/);
  const long = new RunFailedError(['sh', '-c', 'x'.repeat(1000)], { exitCode: 2, tail: ['y'.repeat(1000)] });
  assert.ok(long.message.length < 300);
  assert.ok((long.suggestion ?? '').length < 350);
});
