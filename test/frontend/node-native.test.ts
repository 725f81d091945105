// The Node.js front end with a native addon, for two platforms: fs-ext has no prebuilt binary, so
// `npm ci` in each platform's base compiles it with node-gyp against that base's own Node headers
// (nodejs.org is not reachable here): natively for amd64, under qemu-user for arm64 (the arm64
// base: the shared arm64 Debian fixture with the compilers, bootstrapped under qemu, plus the
// arm64 Node build; cached in the fixtures dir). Each image holds an addon of its own machine
// type and answers HTTP through it (the arm64 one under qemu); a rebuild reuses the install.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { ARM64_TOOLS_PACKAGES } from '../harness/arm64.js';
import { withImageRoot } from '../harness/image-root.js';
import { rawConfig, repoRoot, withTempDir } from './helpers.js';
import { HOST_CA, nodeBuild, nodeWorld, runAndFetch } from './node-helpers.js';

const example = join(repoRoot, 'examples', 'node-native');
/** What node:20 (not slim) adds that node-gyp needs. */
export const COMPILERS = ['python3', 'make', 'g++'];
const ADDON = join('app', 'node_modules', 'fs-ext', 'build', 'Release', 'fs_ext.node');
const OBJECT = join('app', 'node_modules', 'fs-ext', 'build', 'Release', 'obj.target', 'fs_ext', 'fs-ext.o');

/** The ELF e_machine of a file: 0x3e x86-64, 0xb7 AArch64. */
async function elfMachine(path: string): Promise<number> {
  const f = await open(path);
  try {
    const head = Buffer.alloc(20);
    await f.read(head, 0, 20, 0);
    assert.equal(head.subarray(0, 4).toString('latin1'), '\x7fELF', `${path} is not an ELF file`);
    return head.readUInt16LE(18);
  } finally {
    await f.close();
  }
}

test('node: a native addon (fs-ext) is compiled by node-gyp in each platform base (arm64 under qemu), and both images answer through it', {
  timeout: 1_500_000,
}, async () => {
  const world = await nodeWorld({ include: COMPILERS, arm64: true, armInclude: ARM64_TOOLS_PACKAGES });
  try {
    await withTempDir(async (tmp) => {
      const env = await world.env(tmp);
      const store = await world.seed(join(tmp, 'store'));
      const ca = ['--ca-cert', HOST_CA];
      const r = await nodeBuild([...ca, '--platform', 'linux/amd64,linux/arm64', '-t', 'native:1', example], {
        store,
        env,
      });
      assert.equal(r.code, 0, r.stderr.slice(-4000));
      const installs = r.steps.filter((s) => s.name.startsWith('install dependencies'));
      assert.equal(installs.length, 2, 'one install per platform');
      assert.ok(installs.every((s) => s.done && !s.cached));
      const armCfg = await rawConfig(store, 'native:1', 'arm64');
      assert.equal(armCfg.architecture, 'arm64');

      // A build of one platform reuses that platform's install of the index build, either platform.
      for (const arch of ['arm64', 'amd64']) {
        const one = await nodeBuild([...ca, '--platform', `linux/${arch}`, example], { store, env });
        assert.equal(one.code, 0, one.stderr.slice(-4000));
        assert.equal(
          one.steps.find((s) => s.name.startsWith('install dependencies'))?.cached,
          true,
          `the ${arch} install of the index build was not reused`,
        );
      }
      // Compiled here, for its platform (node-gyp's objects beside it), and the app answers through it.
      const cases = [
        { arch: 'amd64', machine: 0x3e, node: 'x64' },
        { arch: 'arm64', machine: 0xb7, node: 'arm64' },
      ];
      for (const c of cases) {
        const cfg = await rawConfig(store, 'native:1', c.arch);
        await withImageRoot(
          store,
          'native:1',
          async (root) => {
            assert.equal(await elfMachine(join(root, ADDON)), c.machine, `the ${c.arch} addon's ELF machine`);
            assert.ok(existsSync(join(root, OBJECT)), `the ${c.arch} addon was not compiled here`);
            const body = await runAndFetch(root, cfg, { platform: { os: 'linux', architecture: c.arch } });
            assert.match(body, new RegExp(`^fs-ext on ${c.node}: flock held, / names up to \\d+ bytes\n$`));
          },
          { architecture: c.arch },
        );
      }
    });
  } finally {
    await world.stop();
  }
});
