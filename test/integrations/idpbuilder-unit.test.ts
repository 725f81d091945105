// idpbuilder pure rules (endpoints from a Localbuild, image names, candidate hosts) and the two
// registry seams it plugs into: configured credentials and CAs always win over the cluster's.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { GantryError } from '../../src/errors.js';
import {
  giteaEndpoints,
  giteaImageName,
  idpbuilderHooks,
  isCandidateHost,
} from '../../src/integrations/idpbuilder/index.js';
import { createKeychain } from '../../src/registry/auth/index.js';
import type { CredentialSource } from '../../src/registry/auth/sources/source.js';
import { createHostSettings } from '../../src/registry/config/index.js';
import { startKubeApi } from '../harness/kube-api.js';

describe('giteaEndpoints (idpbuilder Localbuild spec.buildCustomization)', () => {
  const cases: [string, Parameters<typeof giteaEndpoints>[0], string, string][] = [
    ['default', undefined, 'gitea.cnoe.localtest.me:8443', 'https://gitea.cnoe.localtest.me:8443/'],
    ['empty spec', {}, 'gitea.cnoe.localtest.me:8443', 'https://gitea.cnoe.localtest.me:8443/'],
    [
      'custom host and port',
      { host: 'idp.example.org', port: '9443' },
      'gitea.idp.example.org:9443',
      'https://gitea.idp.example.org:9443/',
    ],
    ['path routing', { usePathRouting: true }, 'cnoe.localtest.me:8443', 'https://cnoe.localtest.me:8443/gitea/'],
    ['https on 443 drops the port', { port: '443' }, 'gitea.cnoe.localtest.me', 'https://gitea.cnoe.localtest.me/'],
    [
      'http',
      { protocol: 'http', port: '8080' },
      'gitea.cnoe.localtest.me:8080',
      'http://gitea.cnoe.localtest.me:8080/',
    ],
  ];
  for (const [name, spec, registry, base] of cases) {
    test(name, () => {
      const e = giteaEndpoints(spec);
      assert.equal(e.registry, registry);
      assert.equal(e.base.href, base);
      assert.equal(
        new URL('api/v1/packages/giteaadmin', e.base).pathname.endsWith('/api/v1/packages/giteaadmin'),
        true,
      );
    });
  }
});

describe('giteaImageName', () => {
  const cluster = { registry: 'gitea.cnoe.localtest.me:8443', owner: 'giteaadmin' };
  test('short names land under the owner', () => {
    assert.equal(giteaImageName(cluster, 'myapp:v1'), 'gitea.cnoe.localtest.me:8443/giteaadmin/myapp:v1');
    assert.equal(giteaImageName(cluster, 'myapp'), 'gitea.cnoe.localtest.me:8443/giteaadmin/myapp');
    assert.equal(giteaImageName(cluster, 'team/app:1'), 'gitea.cnoe.localtest.me:8443/giteaadmin/team/app:1');
  });
  test('an upper-case repository name is an error that says so (an upper-case tag is fine)', () => {
    assert.throws(
      () => giteaImageName(cluster, 'MyApp:v1'),
      (e: unknown) => GantryError.is(e) && e.code === 'IDPBUILDER_UPPERCASE' && /use -t myapp:v1/.test(e.oneLine()),
    );
    assert.equal(giteaImageName(cluster, 'myapp:V1'), 'gitea.cnoe.localtest.me:8443/giteaadmin/myapp:V1');
  });
  test('a name with a registry is refused', () => {
    assert.throws(() => giteaImageName(cluster, 'ghcr.io/x/y:1'), /names a registry/);
    assert.throws(() => giteaImageName(cluster, 'localhost:5000/y'), /names a registry/);
  });
});

test('isCandidateHost: only names that may be an idpbuilder Gitea', () => {
  for (const h of [
    'gitea.cnoe.localtest.me:8443',
    'gitea.example.org',
    'cnoe.localtest.me:8443',
    'GITEA.CNOE.LOCALTEST.ME:8443',
  ])
    assert.equal(isCandidateHost(h), true, h);
  for (const h of ['docker.io', 'ghcr.io', 'localhost:5000', '127.0.0.1:5000', 'registry.example.com', 'mygitea.io'])
    assert.equal(isCandidateHost(h), false, h);
});

test('hosts that cannot be the cluster Gitea never reach the Kubernetes API', async () => {
  const kube = await startKubeApi({});
  const dir = await mkdtemp(join(tmpdir(), 'gantry-idp-'));
  try {
    const file = await kube.kubeconfig(join(dir, 'kubeconfig'));
    const hooks = idpbuilderHooks({ env: { KUBECONFIG: file, HOME: dir } });
    assert.equal(await hooks.credentials.resolve('docker.io', {}), undefined);
    assert.equal(await hooks.ca('registry.example.com:5000'), undefined);
    assert.deepEqual(kube.requests, []);
    // A candidate that is not this cluster's Gitea (discovery fails here: no Localbuild, no
    // secret) answers nothing rather than failing a command aimed at some other Gitea.
    assert.equal(await hooks.credentials.resolve('gitea.example.org', {}), undefined);
    assert.ok(kube.requests.length > 0);
  } finally {
    await kube.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

test('credentials the user configured for the Gitea host win over the cluster secret', async () => {
  const home = await mkdtemp(join(tmpdir(), 'gantry-idp-'));
  try {
    await mkdir(join(home, '.docker'));
    await writeFile(
      join(home, '.docker', 'config.json'),
      JSON.stringify({
        auths: { 'gitea.cnoe.localtest.me:8443': { auth: Buffer.from('me:mine').toString('base64') } },
      }),
    );
    const asked: string[] = [];
    const cluster: CredentialSource = {
      name: 'cluster',
      async resolve(registry) {
        asked.push(registry);
        return { username: 'giteaAdmin', password: 'token', source: 'cluster' };
      },
    };
    const keychain = createKeychain({
      env: { HOME: home, DOCKER_CONFIG: join(home, '.docker') },
      home,
      fallback: [cluster],
    });
    const configured = await keychain.resolve('gitea.cnoe.localtest.me:8443');
    assert.equal(configured?.username, 'me');
    assert.deepEqual(asked, []);
    const other = await keychain.resolve('gitea.other.localtest.me:8443');
    assert.equal(other?.source, 'cluster');
    assert.deepEqual(asked, ['gitea.other.localtest.me:8443']);
  } finally {
    await rm(home, { recursive: true, force: true });
  }
});

test('a CA the user configured (certs.d) or --insecure wins over the cluster CA', async () => {
  const root = await mkdtemp(join(tmpdir(), 'gantry-idp-'));
  try {
    const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
    await mkdir(join(root, 'gitea.cnoe.localtest.me:8443'));
    await writeFile(join(root, 'gitea.cnoe.localtest.me:8443', 'ca.crt'), pem);
    const asked: string[] = [];
    const fallbackCa = async (host: string) => {
      asked.push(host);
      return [Buffer.from('cluster')];
    };
    const settings = createHostSettings({ certsDirs: [root], fallbackCa });
    assert.equal((await settings('gitea.cnoe.localtest.me:8443')).ca?.[0]?.toString(), pem);
    assert.deepEqual(asked, []);
    assert.equal((await settings('gitea.x.localtest.me:8443')).ca?.[0]?.toString(), 'cluster');
    assert.deepEqual(asked, ['gitea.x.localtest.me:8443']);
    const insecure = createHostSettings({ certsDirs: [root], fallbackCa, insecure: true });
    assert.equal((await insecure('gitea.y.localtest.me:8443')).ca, undefined);
    assert.deepEqual(asked, ['gitea.x.localtest.me:8443']);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
