// Network settings from the environment, end to end through the real binary: a copy through a
// forward proxy named by HTTP_PROXY / HTTPS_PROXY to a registry name only the proxy resolves
// (plain HTTP, and TLS with the CA from certs.d), a proxy that refuses, and a registry blocked by
// a containers registries.conf named by CONTAINERS_REGISTRIES_CONF.
import assert from 'node:assert/strict';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { busyboxImage } from '../harness/fixtures.js';
import { startForwardProxy } from '../harness/forward-proxy.js';
import { freePort, startRegistry } from '../harness/registry.js';
import { gantry, withTempDir } from './helpers.js';

const NAME = 'registry.proxy-only.test';

/** An isolated HOME and no proxy or registries.conf from the machine running the tests. */
async function isolated(tmp: string): Promise<NodeJS.ProcessEnv> {
  const h = join(tmp, 'home');
  await mkdir(h, { recursive: true });
  const empty = join(tmp, 'empty-registries.conf');
  await writeFile(empty, '');
  return {
    HOME: h,
    DOCKER_CONFIG: join(h, '.docker'),
    XDG_CONFIG_HOME: join(h, '.config'),
    XDG_RUNTIME_DIR: join(h, 'run'),
    REGISTRY_AUTH_FILE: join(h, 'auth.json'),
    CONTAINERS_REGISTRIES_CONF: empty,
    GANTRY_USERNAME: '',
    GANTRY_PASSWORD: '',
    REGISTRY_USERNAME: '',
    REGISTRY_PASSWORD: '',
    GITHUB_TOKEN: '',
    http_proxy: '',
    https_proxy: '',
    all_proxy: '',
    no_proxy: '',
    HTTP_PROXY: '',
    HTTPS_PROXY: '',
    ALL_PROXY: '',
    NO_PROXY: '',
  };
}

for (const mode of ['http', 'tls'] as const) {
  test(`copy through the proxy from ${mode === 'http' ? 'HTTP_PROXY' : 'HTTPS_PROXY'} to a name only the proxy resolves (${mode})`, async () => {
    const fixture = await busyboxImage();
    const registry = await startRegistry({ mode, dnsNames: [NAME] });
    const host = `${NAME}:${registry.host.split(':')[1]}`;
    const proxy = await startForwardProxy({ hosts: { [host]: registry.host } });
    try {
      await withTempDir(async (tmp) => {
        const env = await isolated(tmp);
        if (mode === 'tls') {
          const certs = join(env.HOME as string, '.docker', 'certs.d', host);
          await mkdir(certs, { recursive: true });
          await copyFile(registry.caFile as string, join(certs, 'ca.crt'));
          env.HTTPS_PROXY = proxy.url;
        } else {
          env.http_proxy = proxy.url;
        }
        const args = ['copy', `oci:${fixture.layoutDir}:${fixture.tag}`, `${host}/cli/busybox:1`];
        const res = await gantry(mode === 'http' ? [...args, '--plain-http'] : args, { env });
        assert.equal(res.code, 0, res.stderr);
        const digest = await gantry(['digest', `${host}/cli/busybox:1`, ...(mode === 'http' ? ['--plain-http'] : [])], {
          env,
        });
        assert.equal(digest.stdout.trim(), fixture.indexDigest);
        // And `gantry push` (issue 9's words): the same image to another repository, through the proxy.
        const plain = mode === 'http' ? ['--plain-http'] : [];
        const pushed = await gantry(
          ['push', `oci:${fixture.layoutDir}:${fixture.tag}`, `${host}/cli/pushed:1`, ...plain],
          {
            env,
          },
        );
        assert.equal(pushed.code, 0, pushed.stderr);
        assert.match(pushed.stdout, new RegExp(`^${host}/cli/pushed:1@sha256:`));
        assert.ok(proxy.seen.length > 0);
        assert.ok(
          proxy.seen.every((s) =>
            mode === 'tls' ? s.method === 'CONNECT' && s.target === host : s.target.startsWith(`http://${host}/`),
          ),
        );
      });
    } finally {
      await proxy.close();
      await registry.stop();
    }
  });
}

test('a proxy that refuses: exit 4 (network) with one line naming the proxy, the status and the registry', async () => {
  const proxy = await startForwardProxy({ hosts: {}, refuse: true });
  try {
    await withTempDir(async (tmp) => {
      const env = { ...(await isolated(tmp)), HTTPS_PROXY: proxy.url };
      const res = await gantry(['digest', `${NAME}:5000/app:1`], { env });
      assert.equal(res.code, 4);
      const lines = res.stderr.trim().split('\n');
      assert.equal(lines.length, 1, res.stderr);
      assert.match(
        lines[0] as string,
        new RegExp(
          `^gantry: error: proxy 127\\.0\\.0\\.1:${proxy.port} refused the tunnel: 403 .*\\(for ${NAME.replaceAll('.', '\\.')}:5000\\)`,
        ),
      );
    });
  } finally {
    await proxy.close();
  }
});

test('a registry blocked in registries.conf: exit 1, one line naming the file, nothing sent', async () => {
  await withTempDir(async (tmp) => {
    const env = await isolated(tmp);
    const port = await freePort();
    const conf = join(tmp, 'registries.conf');
    await writeFile(conf, `[[registry]]\nlocation = "127.0.0.1:${port}"\nblocked = true\n`);
    env.CONTAINERS_REGISTRIES_CONF = conf;
    // Nothing listens there: had gantry tried, it would say the connection was refused.
    const res = await gantry(['digest', `127.0.0.1:${port}/app:1`], { env });
    assert.equal(res.code, 1);
    const lines = res.stderr.trim().split('\n');
    assert.equal(lines.length, 1, res.stderr);
    assert.match(lines[0] as string, new RegExp(`^gantry: error: 127\\.0\\.0\\.1:${port} is blocked by ${conf}`));
  });
});
