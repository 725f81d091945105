// Foreign architectures: an arm64 busybox runs through qemu-user via binfmt_misc in every sandbox
// this machine allows. The test enables the qemu-aarch64 entry with update-binfmts when it is
// registered but off; when the kernel or the machine refuses, it fails and says why.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { checkPlatform, isNativeArchitecture, isolationAvailable } from '../../../src/engine/executor/index.js';
import { GantryError } from '../../../src/errors.js';
import { hostPlatform } from '../../../src/oci/platform.js';
import { run } from '../../harness/run.js';
import { collect, rootfsCopy } from './helpers.js';

const ARM64 = { os: 'linux', architecture: 'arm64' } as const;

/** Makes sure qemu-aarch64 is usable, enabling it if needed; throws with the reason otherwise. */
async function ensureBinfmt(): Promise<void> {
  try {
    await checkPlatform(ARM64);
    return;
  } catch (err) {
    if (!GantryError.is(err) || !err.code.startsWith('BINFMT_')) throw err;
  }
  const res = await run('update-binfmts', ['--enable', 'qemu-aarch64'], { allowFailure: true }).catch((e: unknown) => ({
    code: -1,
    stdout: '',
    stderr: String(e),
  }));
  try {
    await checkPlatform(ARM64);
  } catch (err) {
    const why = GantryError.is(err) ? err.oneLine() : String(err);
    assert.fail(
      `qemu-user via binfmt_misc is not usable here: ${why}; update-binfmts --enable qemu-aarch64 said (exit ${res.code}): ${res.stderr.trim() || res.stdout.trim()}`,
    );
  }
}

test('arm64 busybox runs through qemu-user: uname -m prints aarch64, in every available sandbox', async (t) => {
  assert.equal(isNativeArchitecture(ARM64), hostPlatform().architecture === 'arm64');
  await ensureBinfmt();
  let ran = 0;
  for (const iso of ['bwrap', 'chroot', 'none'] as const) {
    if (!(await isolationAvailable(iso))) continue;
    const root = await rootfsCopy(t, 'arm64');
    const r = await collect(iso, {
      rootfs: root,
      platform: ARM64,
      user: 'nobody',
      args: ['sh', '-c', 'uname -m; id -u'],
    });
    assert.equal(r.exitCode, 0, `${iso}: ${r.tail.join('\n')}`);
    assert.deepEqual(r.stdout, ['aarch64', '65534'], iso);
    ran++;
  }
  assert.ok(ran > 0, 'no sandbox is available');
});

test('a platform without a binfmt_misc entry is a clear error before anything runs', async () => {
  // s390x is not enabled on the test machines; if it is here, there is nothing to refuse.
  const s390x = { os: 'linux', architecture: 's390x' } as const;
  const entry = await readFile('/proc/sys/fs/binfmt_misc/qemu-s390x', 'utf8').catch(() => '');
  if (entry.startsWith('enabled')) return;
  await assert.rejects(
    checkPlatform(s390x),
    (e: unknown) => GantryError.is(e) && /^BINFMT_/.test(e.code) && /update-binfmts/.test(e.suggestion ?? ''),
  );
});

test('only linux platforms can run steps; the host architecture needs no emulator', async () => {
  await assert.rejects(
    checkPlatform({ os: 'windows', architecture: 'amd64' }),
    (e: unknown) => GantryError.is(e) && e.code === 'PLATFORM_UNSUPPORTED',
  );
  assert.equal(await checkPlatform(hostPlatform()), undefined);
});
