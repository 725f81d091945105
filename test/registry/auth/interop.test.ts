// gantry and skopeo share logins, checked against the real distribution registry with basic auth:
// what gantry's storeCredential writes, skopeo reads and the registry accepts; what
// `skopeo login` writes, gantry's keychain reads.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { createKeychain, storeCredential } from '../../../src/registry/auth/index.js';
import { startRegistry } from '../../harness/registry.js';
import { run } from '../../harness/run.js';
import { withSandbox } from './helpers.js';

test('a login stored by gantry is accepted by skopeo against the registry; a wrong one is refused', async () => {
  const reg = await startRegistry({ mode: 'tls-basic', username: 'alice', password: 's3cret' });
  try {
    await withSandbox(async (box) => {
      const listTags = () =>
        run(
          'skopeo',
          [
            'list-tags',
            '--authfile',
            box.dockerConfig,
            '--cert-dir',
            reg.certsDir as string,
            `docker://${reg.host}/no/such`,
          ],
          { allowFailure: true, env: box.env },
        );
      await storeCredential(reg.host, { username: 'alice', password: 'wrong', source: 'flags' }, { env: box.env });
      const refused = await listTags();
      assert.match(refused.stderr, /unauthorized|authentication required/, refused.stderr);
      await storeCredential(reg.host, { username: 'alice', password: 's3cret', source: 'flags' }, { env: box.env });
      const got = await run('skopeo', ['login', '--get-login', '--authfile', box.dockerConfig, reg.host], {
        env: box.env,
      });
      assert.equal(got.stdout.trim(), 'alice');
      // Authenticated: the registry gets as far as saying the repository does not exist.
      const accepted = await listTags();
      assert.doesNotMatch(accepted.stderr, /unauthorized|authentication required/, accepted.stderr);
      assert.match(accepted.stderr, /404|name unknown/i, accepted.stderr);
    });
  } finally {
    await reg.stop();
  }
});

test('a login made by `skopeo login` is found by the keychain through REGISTRY_AUTH_FILE', async () => {
  const reg = await startRegistry({ mode: 'tls-basic', username: 'bob', password: 'pa:ss word' });
  try {
    await withSandbox(async (box) => {
      const authFile = join(box.dir, 'auth.json');
      await run(
        'skopeo',
        [
          'login',
          '--authfile',
          authFile,
          '--cert-dir',
          reg.certsDir as string,
          '-u',
          'bob',
          '--password-stdin',
          reg.host,
        ],
        { input: 'pa:ss word\n', env: box.env },
      );
      const cred = await createKeychain({ env: { ...box.env, REGISTRY_AUTH_FILE: authFile } }).resolve(reg.host);
      assert.deepEqual(cred, { username: 'bob', password: 'pa:ss word', source: authFile });
    });
  } finally {
    await reg.stop();
  }
});
