// The keychain's sources and their order: flags, environment, docker config.json (credHelpers,
// credsStore, auths), containers auth.json, GITHUB_TOKEN for ghcr.io, a mounted Kubernetes
// .dockerconfigjson. Every test runs in a sandboxed HOME with real files and a real helper program.
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { createKeychain } from '../../../src/registry/auth/index.js';
import { basic, installHelper, withSandbox, writeJson } from './helpers.js';

describe('docker config.json', () => {
  test('auths: base64 auth, username/password fields, identitytoken and registrytoken', async () => {
    await withSandbox(async (box) => {
      await writeJson(box.dockerConfig, {
        auths: {
          'a.example': { auth: basic('alice', 'pa:ss') },
          'b.example': { username: 'bob', password: 'hunter2' },
          'c.example': { auth: basic('carol', ''), identitytoken: 'refresh-123' },
          'd.example': { registrytoken: 'bearer-xyz' },
          'e.example': {},
        },
      });
      const kc = createKeychain({ env: box.env });
      assert.deepEqual(await kc.resolve('a.example'), {
        username: 'alice',
        password: 'pa:ss',
        source: box.dockerConfig,
      });
      assert.deepEqual(await kc.resolve('b.example'), {
        username: 'bob',
        password: 'hunter2',
        source: box.dockerConfig,
      });
      assert.deepEqual(await kc.resolve('c.example'), {
        username: 'carol',
        identityToken: 'refresh-123',
        source: box.dockerConfig,
      });
      assert.deepEqual(await kc.resolve('d.example'), { registryToken: 'bearer-xyz', source: box.dockerConfig });
      // docker writes {} for hosts whose secret lives in a credsStore: that is no credential.
      assert.equal(await kc.resolve('e.example'), undefined);
      assert.equal(await kc.resolve('other.example'), undefined);
    });
  });

  test('keys match after normalizing Docker Hub aliases, schemes and paths', async () => {
    await withSandbox(async (box) => {
      await writeJson(box.dockerConfig, {
        auths: {
          'https://index.docker.io/v1/': { auth: basic('hub', 'h') },
          'http://LOCALHOST:5000/v2/': { auth: basic('local', 'l') },
          'https://quay.io': { auth: basic('quay', 'q') },
        },
      });
      const kc = createKeychain({ env: box.env });
      for (const name of ['docker.io', 'index.docker.io', 'registry-1.docker.io']) {
        assert.equal((await kc.resolve(name))?.username, 'hub', name);
      }
      assert.equal((await kc.resolve('localhost:5000'))?.username, 'local');
      assert.equal(await kc.resolve('localhost:5001'), undefined);
      assert.equal((await kc.resolve('quay.io'))?.username, 'quay');
    });
  });

  test('DOCKER_CONFIG names the directory instead of ~/.docker', async () => {
    await withSandbox(async (box) => {
      await writeJson(box.dockerConfig, { auths: { 'r.example': { auth: basic('home', 'x') } } });
      const dir = join(box.dir, 'elsewhere');
      await writeJson(join(dir, 'config.json'), { auths: { 'r.example': { auth: basic('elsewhere', 'y') } } });
      const kc = createKeychain({ env: { ...box.env, DOCKER_CONFIG: dir } });
      assert.deepEqual(await kc.resolve('r.example'), {
        username: 'elsewhere',
        password: 'y',
        source: join(dir, 'config.json'),
      });
    });
  });

  test('credsStore runs docker-credential-NAME get with the server URL; credHelpers wins for its host', async () => {
    await withSandbox(async (box) => {
      const store = await installHelper(box, 'gtstore');
      const per = await installHelper(box, 'gthost');
      await store.seed('https://index.docker.io/v1/', 'hubuser', 'hubsecret');
      await store.seed('r.example', 'storeuser', 'storesecret');
      await per.seed('r.example', 'hostuser', 'hostsecret');
      await writeJson(box.dockerConfig, {
        credsStore: 'gtstore',
        credHelpers: { 'https://r.example': 'gthost' },
        auths: { 'docker.io': {}, 'r.example': {} },
      });
      const kc = createKeychain({ env: box.env });
      assert.deepEqual(await kc.resolve('registry-1.docker.io'), {
        username: 'hubuser',
        password: 'hubsecret',
        source: `credsStore gtstore (${box.dockerConfig})`,
      });
      assert.deepEqual(await kc.resolve('r.example'), {
        username: 'hostuser',
        password: 'hostsecret',
        source: `credHelpers gthost (${box.dockerConfig})`,
      });
      assert.deepEqual(await store.calls(), ['get https://index.docker.io/v1/']);
      assert.deepEqual(await per.calls(), ['get r.example']);
    });
  });

  test('a helper answering Username "<token>" gives an identity token', async () => {
    await withSandbox(async (box) => {
      const helper = await installHelper(box, 'gttoken');
      await helper.seed('acr.example', '<token>', 'refresh-abc');
      await writeJson(box.dockerConfig, { credsStore: 'gttoken' });
      const cred = await createKeychain({ env: box.env }).resolve('acr.example');
      assert.deepEqual(cred, { identityToken: 'refresh-abc', source: `credsStore gttoken (${box.dockerConfig})` });
    });
  });

  test('a helper miss, or a helper that is not installed, falls back to the inline auths entry', async () => {
    await withSandbox(async (box) => {
      await installHelper(box, 'gtempty');
      await writeJson(box.dockerConfig, {
        credsStore: 'gtempty',
        credHelpers: { 'gone.example': 'not-installed-anywhere' },
        auths: { 'r.example': { auth: basic('inline', 'i') }, 'gone.example': { auth: basic('inline2', 'j') } },
      });
      const kc = createKeychain({ env: box.env });
      assert.equal((await kc.resolve('r.example'))?.username, 'inline');
      assert.equal((await kc.resolve('gone.example'))?.username, 'inline2');
      assert.equal(await kc.resolve('nothing.example'), undefined);
    });
  });

  test('a helper that fails is an error naming it, not an anonymous pull', async () => {
    await withSandbox(async (box) => {
      await installHelper(box, 'gtbroken', { fail: 'gpg: decryption failed: No secret key' });
      await writeJson(box.dockerConfig, { credsStore: 'gtbroken' });
      await assert.rejects(createKeychain({ env: box.env }).resolve('r.example'), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'CREDENTIAL_HELPER_FAILED');
        assert.equal(
          err.message,
          'docker-credential-gtbroken get failed (exit 3): gpg: decryption failed: No secret key',
        );
        return true;
      });
    });
  });

  test('a helper name that is a path is refused before anything runs', async () => {
    await withSandbox(async (box) => {
      await writeJson(box.dockerConfig, { credsStore: '../../tmp/evil' });
      await assert.rejects(createKeychain({ env: box.env }).resolve('r.example'), { code: 'BAD_CREDENTIALS_FILE' });
    });
  });

  test('a helper runs once per registry for the life of a keychain', async () => {
    await withSandbox(async (box) => {
      const helper = await installHelper(box, 'gtonce');
      await helper.seed('r.example', 'u', 'p');
      await writeJson(box.dockerConfig, { credsStore: 'gtonce' });
      const kc = createKeychain({ env: box.env });
      await Promise.all([kc.resolve('r.example'), kc.resolve('r.example')]);
      await kc.resolve('r.example');
      await kc.resolve('miss.example');
      assert.deepEqual(await helper.calls(), ['get r.example', 'get miss.example']);
    });
  });

  const malformed: [string, string, RegExp][] = [
    ['not JSON', '{"auths": {', /: not valid JSON/],
    ['an array', '[]', /: not a JSON object$/],
    ['auths not an object', '{"auths": "x"}', /: "auths" is not an object$/],
    ['entry not an object', '{"auths": {"r.example": 3}}', /: auths\["r.example"\] is not an object$/],
    ['auth not a string', '{"auths": {"r.example": {"auth": 3}}}', /: auths\["r.example"\]\.auth is not a string$/],
    [
      'auth without a colon',
      `{"auths": {"r.example": {"auth": "${Buffer.from('nocolon').toString('base64')}"}}}`,
      /: auths\["r.example"\]\.auth is not base64 of "username:password"$/,
    ],
    ['auth not base64', '{"auths": {"r.example": {"auth": "***"}}}', /is not base64/],
    ['credsStore not a string', '{"credsStore": 1}', /: "credsStore" is not a string$/],
    [
      'credHelpers value empty',
      '{"credHelpers": {"r.example": ""}}',
      /credHelpers\["r.example"\] is not a helper name$/,
    ],
  ];
  for (const [name, text, message] of malformed) {
    test(`a malformed config.json (${name}) is one BAD_CREDENTIALS_FILE error naming the file`, async () => {
      await withSandbox(async (box) => {
        await mkdir(join(box.home, '.docker'), { recursive: true });
        await writeFile(box.dockerConfig, text);
        await assert.rejects(
          createKeychain({ env: box.env }).resolve('r.example'),
          (err: Error & { code?: string }) => {
            assert.equal(err.code, 'BAD_CREDENTIALS_FILE');
            assert.ok(err.message.startsWith(`${box.dockerConfig}: `), err.message);
            assert.match(err.message, message);
            assert.doesNotMatch(err.message, /\n/);
            return true;
          },
        );
      });
    });
  }

  test('an empty config.json is an empty config', async () => {
    await withSandbox(async (box) => {
      await mkdir(join(box.home, '.docker'), { recursive: true });
      await writeFile(box.dockerConfig, '\n');
      assert.equal(await createKeychain({ env: box.env }).resolve('r.example'), undefined);
    });
  });
});

describe('environment', () => {
  test('GANTRY_USERNAME/PASSWORD before REGISTRY_USERNAME/PASSWORD, for every registry', async () => {
    await withSandbox(async (box) => {
      const env = {
        ...box.env,
        GANTRY_USERNAME: 'g',
        GANTRY_PASSWORD: 'gp',
        REGISTRY_USERNAME: 'r',
        REGISTRY_PASSWORD: 'rp',
      };
      assert.deepEqual(await createKeychain({ env }).resolve('any.example'), {
        username: 'g',
        password: 'gp',
        source: 'env GANTRY_USERNAME',
      });
      const { GANTRY_USERNAME: _u, GANTRY_PASSWORD: _p, ...rest } = env;
      assert.deepEqual(await createKeychain({ env: rest }).resolve('other.example'), {
        username: 'r',
        password: 'rp',
        source: 'env REGISTRY_USERNAME',
      });
    });
  });

  test('GANTRY_REGISTRY and REGISTRY scope each pair to one host', async () => {
    await withSandbox(async (box) => {
      const env = {
        ...box.env,
        GANTRY_USERNAME: 'g',
        GANTRY_PASSWORD: 'gp',
        GANTRY_REGISTRY: 'ghcr.io',
        REGISTRY_USERNAME: 'r',
        REGISTRY_PASSWORD: 'rp',
        REGISTRY: 'index.docker.io',
      };
      const kc = createKeychain({ env });
      assert.equal((await kc.resolve('ghcr.io'))?.username, 'g');
      assert.equal((await kc.resolve('registry-1.docker.io'))?.username, 'r');
      assert.equal(await kc.resolve('quay.io'), undefined);
    });
  });

  test('half a pair is an error that says which variable is missing', async () => {
    await withSandbox(async (box) => {
      const kc = createKeychain({ env: { ...box.env, GANTRY_USERNAME: 'g' } });
      await assert.rejects(kc.resolve('r.example'), {
        code: 'INCOMPLETE_CREDENTIALS',
        message: 'GANTRY_USERNAME is set but GANTRY_PASSWORD is not',
      });
    });
  });
});

describe('flags', () => {
  test('flags win over everything; with a registry they apply to it only', async () => {
    await withSandbox(async (box) => {
      await writeJson(box.dockerConfig, { auths: { 'r.example': { auth: basic('file', 'f') } } });
      const env = { ...box.env, GANTRY_USERNAME: 'g', GANTRY_PASSWORD: 'gp' };
      const all = createKeychain({ env, flags: { username: 'flag', password: 'fp' } });
      assert.deepEqual(await all.resolve('r.example'), { username: 'flag', password: 'fp', source: 'flags' });
      const one = createKeychain({ env, flags: { registry: 'r.example', username: 'flag', password: 'fp' } });
      assert.equal((await one.resolve('r.example'))?.source, 'flags');
      assert.equal((await one.resolve('s.example'))?.source, 'env GANTRY_USERNAME');
    });
  });
});

describe('containers auth.json', () => {
  test('XDG_RUNTIME_DIR first, then XDG_CONFIG_HOME; REGISTRY_AUTH_FILE replaces both', async () => {
    await withSandbox(async (box) => {
      const runtime = join(box.env.XDG_RUNTIME_DIR as string, 'containers', 'auth.json');
      const config = join(box.env.XDG_CONFIG_HOME as string, 'containers', 'auth.json');
      await writeJson(runtime, { auths: { 'r.example': { auth: basic('runtime', '1') } } });
      await writeJson(config, {
        auths: { 'r.example': { auth: basic('config', '2') }, 's.example': { auth: basic('config', '3') } },
      });
      const kc = createKeychain({ env: box.env });
      assert.deepEqual(await kc.resolve('r.example'), { username: 'runtime', password: '1', source: runtime });
      assert.deepEqual(await kc.resolve('s.example'), { username: 'config', password: '3', source: config });
      const explicit = join(box.dir, 'auth.json');
      await writeJson(explicit, { auths: { 't.example': { auth: basic('explicit', '4') } } });
      const only = createKeychain({ env: { ...box.env, REGISTRY_AUTH_FILE: explicit } });
      assert.equal((await only.resolve('t.example'))?.username, 'explicit');
      assert.equal(await only.resolve('r.example'), undefined);
    });
  });

  test('without XDG_CONFIG_HOME the file is ~/.config/containers/auth.json', async () => {
    await withSandbox(async (box) => {
      const path = join(box.home, '.config', 'containers', 'auth.json');
      await writeJson(path, { auths: { 'r.example': { auth: basic('homeconfig', '1') } } });
      const { XDG_CONFIG_HOME: _x, ...env } = box.env;
      assert.equal((await createKeychain({ env }).resolve('r.example'))?.source, path);
    });
  });

  test('namespace keys: the longest key containing the repository wins; host keys cover the rest', async () => {
    await withSandbox(async (box) => {
      const file = join(box.dir, 'auth.json');
      await writeJson(file, {
        auths: {
          'quay.io': { auth: basic('host', '0') },
          'quay.io/team': { auth: basic('team', '1') },
          'quay.io/team/app': { auth: basic('app', '2') },
        },
      });
      const kc = createKeychain({ env: { ...box.env, REGISTRY_AUTH_FILE: file } });
      assert.equal((await kc.resolve('quay.io', { repository: 'team/app' }))?.username, 'app');
      assert.equal((await kc.resolve('quay.io', { repository: 'team/app/sub' }))?.username, 'app');
      assert.equal((await kc.resolve('quay.io', { repository: 'team/other' }))?.username, 'team');
      // 'team/application' is not under 'team/app': components, not string prefixes.
      assert.equal((await kc.resolve('quay.io', { repository: 'team/application' }))?.username, 'team');
      assert.equal((await kc.resolve('quay.io', { repository: 'elsewhere/x' }))?.username, 'host');
      assert.equal((await kc.resolve('quay.io'))?.username, 'host');
    });
  });
});

describe('GITHUB_TOKEN and Kubernetes secrets', () => {
  test('GITHUB_TOKEN answers for ghcr.io only, as GITHUB_ACTOR or "token"', async () => {
    await withSandbox(async (box) => {
      const kc = createKeychain({ env: { ...box.env, GITHUB_TOKEN: 'ghs_abc' } });
      assert.deepEqual(await kc.resolve('ghcr.io'), {
        username: 'token',
        password: 'ghs_abc',
        source: 'env GITHUB_TOKEN',
      });
      assert.equal(await kc.resolve('docker.io'), undefined);
      const actor = createKeychain({ env: { ...box.env, GITHUB_TOKEN: 'ghs_abc', GITHUB_ACTOR: 'octocat' } });
      assert.equal((await actor.resolve('ghcr.io'))?.username, 'octocat');
    });
  });

  test('GANTRY_DOCKERCONFIGJSON reads a mounted .dockerconfigjson; a missing named file is an error', async () => {
    await withSandbox(async (box) => {
      const secret = join(box.dir, 'secret', '.dockerconfigjson');
      await writeJson(secret, { auths: { 'https://r.example': { username: 'k8s', password: 'kp' } } });
      const kc = createKeychain({ env: { ...box.env, GANTRY_DOCKERCONFIGJSON: secret } });
      assert.deepEqual(await kc.resolve('r.example'), { username: 'k8s', password: 'kp', source: secret });
      const missing = join(box.dir, 'nope');
      await assert.rejects(
        createKeychain({ env: { ...box.env, GANTRY_DOCKERCONFIGJSON: missing } }).resolve('r.example'),
        {
          code: 'BAD_CREDENTIALS_FILE',
          message: `${missing}: GANTRY_DOCKERCONFIGJSON names a file that does not exist`,
        },
      );
    });
  });
});

test('order: flags, env, docker config, auth.json, GITHUB_TOKEN, Kubernetes secret (first hit wins)', async () => {
  await withSandbox(async (box) => {
    const host = 'ghcr.io';
    const authJson = join(box.env.XDG_RUNTIME_DIR as string, 'containers', 'auth.json');
    const secret = join(box.dir, '.dockerconfigjson');
    await writeJson(box.dockerConfig, { auths: { [host]: { auth: basic('docker', 'd') } } });
    await writeJson(authJson, { auths: { [host]: { auth: basic('containers', 'c') } } });
    await writeJson(secret, { auths: { [host]: { auth: basic('kubernetes', 'k') } } });
    const env: NodeJS.ProcessEnv = {
      ...box.env,
      GANTRY_USERNAME: 'env',
      GANTRY_PASSWORD: 'e',
      GITHUB_TOKEN: 'gh',
      GANTRY_DOCKERCONFIGJSON: secret,
    };
    const flags = { username: 'flags', password: 'f' };
    const seen: string[] = [];
    const resolveNow = async (withFlags: boolean) =>
      (await createKeychain({ env, ...(withFlags ? { flags } : {}) }).resolve(host))?.username;
    seen.push((await resolveNow(true)) as string);
    seen.push((await resolveNow(false)) as string);
    delete env.GANTRY_USERNAME;
    delete env.GANTRY_PASSWORD;
    seen.push((await resolveNow(false)) as string);
    await writeJson(box.dockerConfig, {});
    seen.push((await resolveNow(false)) as string);
    await writeJson(authJson, {});
    seen.push((await resolveNow(false)) as string);
    delete env.GITHUB_TOKEN;
    seen.push((await resolveNow(false)) as string);
    await writeJson(secret, {});
    seen.push(String(await resolveNow(false)));
    assert.deepEqual(seen, ['flags', 'env', 'docker', 'containers', 'token', 'kubernetes', 'undefined']);
  });
});
