// The gantry command (bin/gantry, package.json "bin"): it keeps NODE_EXTRA_CA_CERTS from Node's
// start and gantry trusts those certificates from its first TLS connection on (src/util/node-tls.ts),
// reached through an npm-style relative link; every process gantry starts (here a docker credential
// helper) still sees the variable as the user set it. A registry whose CA only that variable names
// is reached; without the variable it is refused; a file that cannot be read is warned about, as
// Node does.
import assert from 'node:assert/strict';
import { chmod, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { after, before, test } from 'node:test';
import { rootCertificates } from 'node:tls';
import { startRegistry, type TestRegistry } from '../harness/registry.js';
import { isolatedHome, repoRoot, run, withTempDir } from './helpers.js';

let registry: TestRegistry;
before(async () => {
  registry = await startRegistry({ mode: 'tls-basic' });
});
after(() => registry?.stop());

/** An npm-style link to the command, a credential helper that notes its environment, a docker config using it. */
async function setUp(tmp: string): Promise<{ gantry: string; env: NodeJS.ProcessEnv; seen: string }> {
  const env = await isolatedHome(tmp);
  const links = join(tmp, 'node_modules', '.bin');
  await mkdir(links, { recursive: true });
  const gantry = join(links, 'gantry');
  await symlink(relative(links, join(repoRoot, 'bin', 'gantry')), gantry);
  const bin = join(tmp, 'bin');
  await mkdir(bin);
  const seen = join(tmp, 'seen');
  const helper = join(bin, 'docker-credential-noted');
  await writeFile(
    helper,
    [
      '#!/bin/sh',
      'read -r server',
      `printf '%s|%s\\n' "\${NODE_EXTRA_CA_CERTS-unset}" "\${GANTRY_NODE_EXTRA_CA_CERTS-unset}" > '${seen}'`,
      `printf '{"ServerURL":"%s","Username":"%s","Secret":"%s"}' "$server" '${registry.username}' '${registry.password}'`,
    ].join('\n'),
  );
  await chmod(helper, 0o755);
  const dockerConfig = env.DOCKER_CONFIG as string;
  await mkdir(dockerConfig, { recursive: true });
  await writeFile(join(dockerConfig, 'config.json'), JSON.stringify({ credHelpers: { [registry.host]: 'noted' } }));
  return { gantry, env: { ...env, PATH: `${bin}:${process.env.PATH}` }, seen };
}

test('the gantry command trusts NODE_EXTRA_CA_CERTS from its first TLS connection; the processes it starts see the variable', async () => {
  await withTempDir(async (tmp) => {
    const { gantry, env, seen } = await setUp(tmp);
    // A bundle, as such files are: two other roots first, the registry's CA last.
    const caFile = join(tmp, 'extra-ca.pem');
    const roots = rootCertificates.slice(0, 2).join('\n');
    await writeFile(caFile, `${roots}\n${await readFile(registry.caFile as string, 'utf8')}`);
    const ok = await run(gantry, ['catalog', registry.host], {
      env: { ...env, NODE_EXTRA_CA_CERTS: caFile },
      timeoutMs: 60_000,
    });
    assert.equal(ok.code, 0, ok.stderr);
    assert.doesNotMatch(ok.stderr, /Warning/);
    assert.equal((await readFile(seen, 'utf8')).trim(), `${caFile}|unset`);

    // The CA is trusted only through the variable: without it the registry's certificate is refused.
    const refused = await run(gantry, ['catalog', registry.host], {
      env: { ...env, NODE_EXTRA_CA_CERTS: '' },
      timeoutMs: 60_000,
    });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /certificate/i);
  });
});

test('the gantry command warns once about a NODE_EXTRA_CA_CERTS file it cannot read, as Node does, and keeps its roots', async () => {
  await withTempDir(async (tmp) => {
    const { gantry, env } = await setUp(tmp);
    const r = await run(gantry, ['catalog', registry.host], {
      env: { ...env, NODE_EXTRA_CA_CERTS: join(tmp, 'missing.pem') },
      timeoutMs: 60_000,
    });
    assert.notEqual(r.code, 0);
    assert.equal(r.stderr.match(/Ignoring extra certs from `[^`]*missing\.pem`, load failed/g)?.length, 1, r.stderr);
    assert.match(r.stderr, /certificate/i);
  });
});
