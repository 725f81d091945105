// The Node.js front end for two platforms: `--platform linux/amd64,linux/arm64` on a project with
// one small dependency makes an index whose arm64 image has its dependency layer installed by the
// arm64 base's own npm under qemu-user (the base: Debian bootstrapped with debootstrap --foreign
// and a second stage under qemu, plus the arm64 Node build; cached in the fixtures dir), and the
// arm64 image runs under qemu and answers.
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { rawConfig, readTree, withTempDir } from './helpers.js';
import { HOST_CA, nodeBuild, nodeWorld, runAndFetch } from './node-helpers.js';

const PACKAGE = { name: 'arch-app', version: '1.0.0', private: true, main: 'server.js', dependencies: { ms: '2.1.3' } };
const LOCK = {
  name: 'arch-app',
  version: '1.0.0',
  lockfileVersion: 3,
  requires: true,
  packages: {
    '': { name: 'arch-app', version: '1.0.0', dependencies: { ms: '2.1.3' } },
    'node_modules/ms': {
      version: '2.1.3',
      integrity: 'sha512-6FlzubTLZG3J2a/NVCAleEhjzq5oxgHyaCU9yYXvcLsvoVaHJq/s5xXI6/XXP6tz7R9xAOtHnSO/tXtF3WRTlA==',
      license: 'MIT',
    },
  },
};
const SERVER = `const ms = require('ms');
require('node:http')
  .createServer((_, res) => res.end(\`\${process.arch} \${ms(2 * 86400000)}\\n\`))
  .listen(Number(process.env.PORT ?? 3000));
`;

test('node: --platform linux/amd64,linux/arm64 makes an index; the arm64 dependencies are installed under qemu and the arm64 image answers', {
  timeout: 900_000,
}, async () => {
  const world = await nodeWorld({ arm64: true });
  try {
    await withTempDir(async (tmp) => {
      const env = await world.env(tmp);
      const app = join(tmp, 'app');
      await mkdir(app);
      await writeFile(join(app, 'package.json'), JSON.stringify(PACKAGE, null, 2));
      await writeFile(join(app, 'package-lock.json'), JSON.stringify(LOCK, null, 2));
      await writeFile(join(app, 'server.js'), SERVER);
      const store = join(tmp, 'store');
      const args = ['--ca-cert', HOST_CA, '--platform', 'linux/amd64,linux/arm64'];
      const built = await nodeBuild([...args, '-t', 'multi:1', app], { store, env });
      assert.equal(built.code, 0, built.stderr);
      const installs = built.steps.filter((s) => s.name.startsWith('install dependencies'));
      assert.equal(installs.length, 2, 'one install per platform');
      assert.ok(installs.every((s) => s.done && !s.cached));
      const arm = join(tmp, 'rootfs-arm64');
      const out = await nodeBuild(
        ['--ca-cert', HOST_CA, '--platform', 'linux/arm64', '-o', `type=local,dest=${arm}`, app],
        {
          store,
          env,
        },
      );
      assert.equal(out.code, 0, out.stderr);
      assert.equal(
        out.steps.find((s) => s.name.startsWith('install dependencies'))?.cached,
        true,
        'the arm64 install of the index build was not reused',
      );
      const tree = await readTree(join(arm, 'app'));
      assert.ok(tree.has('node_modules/ms/package.json'));
      const cfg = await rawConfig(store, 'multi:1', 'arm64');
      assert.equal(cfg.architecture, 'arm64');
      const body = await runAndFetch(arm, cfg, { platform: { os: 'linux', architecture: 'arm64' } });
      assert.equal(body, 'arm64 2d\n');
    });
  } finally {
    await world.stop();
  }
});
