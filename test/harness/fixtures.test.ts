// Pins the fixtures later tests build on: the busybox rootfs per architecture really holds a
// binary of that architecture, the multi-platform layout is what skopeo and umoci read, pushes to
// every registry mode keep its digest, and a fresh build (even two racing processes) gives the
// same bytes.
import assert from 'node:assert/strict';
import { cp, lstat, mkdtemp, open, readdir, readFile, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type BusyboxImage, busyboxImage, busyboxRootfs, fixturesDir } from './fixtures.js';
import { type RegistryMode, registryRequest, startRegistry } from './registry.js';
import { run } from './run.js';
import { skopeoCopy, skopeoInspectRaw, transportFor, umociStat, umociUnpack } from './validate.js';

const EM_X86_64 = 62;
const EM_AARCH64 = 183;

/** e_machine of a little-endian ELF64 file, read from its header. */
async function elfMachine(path: string): Promise<number> {
  const fh = await open(path, 'r');
  try {
    const { buffer, bytesRead } = await fh.read(Buffer.alloc(20), 0, 20, 0);
    assert.equal(bytesRead, 20, `${path} is too short for an ELF header`);
    assert.deepEqual([...buffer.subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46], `${path} is not ELF`);
    assert.equal(buffer[4], 2, 'ELFCLASS64');
    assert.equal(buffer[5], 1, 'little-endian');
    return buffer.readUInt16LE(18);
  } finally {
    await fh.close();
  }
}

async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

describe('busyboxRootfs', () => {
  for (const [arch, machine] of [
    ['amd64', EM_X86_64],
    ['arm64', EM_AARCH64],
  ] as const) {
    test(`${arch}: /bin/busybox is an ${arch} ELF and the tree is a usable root`, async () => {
      const root = await busyboxRootfs(arch);
      assert.equal(await elfMachine(join(root, 'bin', 'busybox')), machine);
      assert.equal(await readlink(join(root, 'bin', 'sh')), 'busybox');
      assert.equal(await readlink(join(root, 'usr', 'bin', 'env')), '../../bin/busybox');
      assert.ok((await readdir(join(root, 'bin'))).length > 50);
      assert.equal((await lstat(join(root, 'tmp'))).mode & 0o7777, 0o1777);
      assert.equal((await lstat(join(root, 'root'))).mode & 0o7777, 0o700);
      assert.ok((await lstat(join(root, 'home'))).isDirectory());
      const passwd = await readFile(join(root, 'etc', 'passwd'), 'utf8');
      assert.match(passwd, /^root:x:0:0:/m);
      assert.match(passwd, /^nobody:x:65534:65534:/m);
      assert.match(await readFile(join(root, 'etc', 'group'), 'utf8'), /^root:x:0:/m);
    });
  }

  test('amd64: the applet symlinks run on the host', async () => {
    const root = await busyboxRootfs('amd64');
    const res = await run(join(root, 'bin', 'sh'), ['-c', 'echo hello from $0']);
    assert.equal(res.stdout.trim(), `hello from ${join(root, 'bin', 'sh')}`);
  });
});

describe('busyboxImage', () => {
  let img: BusyboxImage;
  before(async () => {
    img = await busyboxImage();
  });

  test('index.json names one multi-platform index, busybox, for linux/amd64 and linux/arm64', async () => {
    const top = JSON.parse(await readFile(join(img.layoutDir, 'index.json'), 'utf8'));
    assert.equal(top.manifests.length, 1);
    assert.equal(top.manifests[0].digest, img.indexDigest);
    assert.equal(top.manifests[0].mediaType, 'application/vnd.oci.image.index.v1+json');
    assert.equal(top.manifests[0].annotations['org.opencontainers.image.ref.name'], 'busybox');
    assert.equal(img.tag, 'busybox');
    assert.deepEqual(
      img.manifests.map((m) => m.platform),
      ['linux/amd64', 'linux/arm64'],
    );
    assert.equal(await busyboxImage().then((again) => again.indexDigest), img.indexDigest);
  });

  test('skopeo reads the layout: the index digest, Cmd and Env', async () => {
    const raw = await skopeoInspectRaw(`oci:${img.layoutDir}:busybox`);
    assert.equal(raw.digest, img.indexDigest);
    const config = JSON.parse(
      (await run('skopeo', ['--insecure-policy', 'inspect', '--config', `oci:${img.layoutDir}:busybox`])).stdout,
    );
    assert.deepEqual(config.config.Cmd, ['sh']);
    assert.ok(config.config.Env.some((e: string) => /^PATH=.*\/bin/.test(e)));
  });

  for (const [platform, machine] of [
    ['linux/amd64', EM_X86_64],
    ['linux/arm64', EM_AARCH64],
  ] as const) {
    test(`umoci stats and unpacks the ${platform} image; its busybox is built for that machine`, async () => {
      const stat = await umociStat(img.layoutDir, 'busybox', { platform });
      assert.equal(stat.history.length, 1);
      assert.equal(stat.history[0]?.layer?.mediaType, 'application/vnd.oci.image.layer.v1.tar+gzip');
      const dir = await tempDir('gantry-fixture-unpack-');
      try {
        const { rootfs } = await umociUnpack(img.layoutDir, 'busybox', join(dir, 'bundle'), { platform });
        assert.equal(await elfMachine(join(rootfs, 'bin', 'busybox')), machine);
        assert.equal((await lstat(join(rootfs, 'tmp'))).mode & 0o7777, 0o1777);
        assert.equal(await readlink(join(rootfs, 'bin', 'sh')), 'busybox');
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  }

  test('umoci refuses the multi-platform tag without a platform (why umociStat takes one)', async () => {
    await assert.rejects(umociStat(img.layoutDir, 'busybox'), /ambiguous/);
  });
});

describe('pushing the busybox fixture with skopeo', () => {
  let img: BusyboxImage;
  before(async () => {
    img = await busyboxImage();
  });

  for (const mode of ['http', 'tls', 'tls-basic'] as const satisfies readonly RegistryMode[]) {
    test(`${mode}: skopeo copy --all keeps the index digest`, async () => {
      const reg = await startRegistry({ mode });
      try {
        const ref = `docker://${reg.host}/fixtures/busybox:1`;
        await skopeoCopy(`oci:${img.layoutDir}:busybox`, ref, {
          all: true,
          preserveDigests: true,
          dest: transportFor(reg),
        });
        const raw = await skopeoInspectRaw(ref, transportFor(reg));
        assert.equal(raw.digest, img.indexDigest);
        const head = await registryRequest(reg, '/v2/fixtures/busybox/manifests/1', {
          method: 'HEAD',
          auth: mode === 'tls-basic',
          headers: { accept: 'application/vnd.oci.image.index.v1+json' },
        });
        assert.equal(head.status, 200, reg.logTail());
        assert.equal(head.headers['docker-content-digest'], img.indexDigest);
        if (mode === 'tls-basic') {
          await assert.rejects(skopeoInspectRaw(ref, { ...transportFor(reg), creds: undefined }), /unauthorized/i);
        }
      } finally {
        await reg.stop();
      }
    });
  }
});

describe('fixture builds', () => {
  const fixturesJs = join(fileURLToPath(new URL('.', import.meta.url)), 'fixtures.js');
  let dir: string;
  before(async () => {
    dir = await tempDir('gantry-fixtures-');
    // Reuse the downloaded packages and apt answers: this is about assembling, not the mirror.
    await cp(join(fixturesDir(), 'debs'), join(dir, 'debs'), { recursive: true });
    await cp(join(fixturesDir(), 'apt-versions.json'), join(dir, 'apt-versions.json'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('two processes racing to build into an empty cache both succeed with the cached digest', async () => {
    const expected = (await busyboxImage()).indexDigest;
    const script = `import { busyboxImage } from ${JSON.stringify(fixturesJs)};\nconst i = await busyboxImage();\nconsole.log(i.indexDigest + ' ' + i.layoutDir);`;
    const env = { ...process.env, GANTRY_FIXTURES_DIR: dir };
    const outs = await Promise.all(
      [1, 2].map(() => run(process.execPath, ['--input-type=module', '-e', script], { env })),
    );
    for (const out of outs) {
      const [digest, layoutDir] = out.stdout.trim().split(' ');
      assert.equal(digest, expected, 'a fresh build must give the same bytes as the cached one');
      assert.ok(layoutDir?.startsWith(`${dir}/`));
    }
    const left = (await readdir(dir)).filter((n) => n.startsWith('.tmp'));
    assert.deepEqual(left, [], 'no build temp dirs are left behind');
  });
});
