// Login storage as docker does it: into the credential helper when config.json names one, else
// into config.json auths (base64, mode 0600, atomic, every other key kept); logout erases both;
// `login` verifies before it stores, so a refused credential never replaces a working one.
import assert from 'node:assert/strict';
import { lstat, mkdir, readFile, readlink, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { GantryError } from '../../../src/errors.js';
import { createKeychain, login, removeCredential, storeCredential } from '../../../src/registry/auth/index.js';
import { basic, installHelper, listDir, withSandbox, writeJson } from './helpers.js';

describe('storeCredential into config.json', () => {
  test("creates ~/.docker/config.json with mode 0600 and docker's key for Docker Hub", async () => {
    await withSandbox(async (box) => {
      const where = await storeCredential(
        'registry-1.docker.io',
        { username: 'u', password: 'p', source: 'flags' },
        {
          env: box.env,
        },
      );
      assert.deepEqual(where, { kind: 'file', path: box.dockerConfig });
      assert.equal((await stat(box.dockerConfig)).mode & 0o777, 0o600);
      assert.deepEqual(JSON.parse(await readFile(box.dockerConfig, 'utf8')), {
        auths: { 'https://index.docker.io/v1/': { auth: basic('u', 'p') } },
      });
      // No temp file left beside it.
      assert.deepEqual(await listDir(join(box.home, '.docker')), ['config.json']);
    });
  });

  test('keeps every other key, other hosts and extra entry fields; replaces aliases of the same host', async () => {
    await withSandbox(async (box) => {
      const before = {
        psFormat: 'table {{.ID}}',
        proxies: { default: { httpProxy: 'http://proxy:3128' } },
        auths: {
          'other.example': { auth: basic('o', 'o') },
          'r.example': { auth: basic('old', 'old'), email: 'me@example.com' },
          'https://r.example/v1/': { auth: basic('alias', 'alias') },
        },
        plugins: { x: { y: 'z' } },
      };
      await writeJson(box.dockerConfig, before);
      await storeCredential('r.example', { username: 'new', password: 'secret', source: 'flags' }, { env: box.env });
      const after = JSON.parse(await readFile(box.dockerConfig, 'utf8'));
      assert.deepEqual(after, {
        psFormat: 'table {{.ID}}',
        proxies: { default: { httpProxy: 'http://proxy:3128' } },
        auths: {
          'other.example': { auth: basic('o', 'o') },
          'r.example': { email: 'me@example.com', auth: basic('new', 'secret') },
        },
        plugins: { x: { y: 'z' } },
      });
      assert.deepEqual(await createKeychain({ env: box.env }).resolve('r.example'), {
        username: 'new',
        password: 'secret',
        source: box.dockerConfig,
      });
    });
  });

  test('writes through a symlinked config.json instead of replacing the link', async () => {
    await withSandbox(async (box) => {
      const real = join(box.dir, 'dotfiles', 'docker-config.json');
      await writeJson(real, { auths: {} });
      await mkdir(join(box.home, '.docker'), { recursive: true });
      await symlink(real, box.dockerConfig);
      await storeCredential('r.example', { username: 'u', password: 'p', source: 'flags' }, { env: box.env });
      assert.ok((await lstat(box.dockerConfig)).isSymbolicLink());
      assert.equal(await readlink(box.dockerConfig), real);
      assert.equal(JSON.parse(await readFile(real, 'utf8')).auths['r.example'].auth, basic('u', 'p'));
    });
  });

  test('an identity token is stored as identitytoken and read back as one', async () => {
    await withSandbox(async (box) => {
      await storeCredential(
        'acr.example',
        { username: 'u', identityToken: 'refresh', source: 'flags' },
        { env: box.env },
      );
      assert.deepEqual(await createKeychain({ env: box.env }).resolve('acr.example'), {
        username: 'u',
        identityToken: 'refresh',
        source: box.dockerConfig,
      });
    });
  });

  test('a malformed config.json is reported and left untouched', async () => {
    await withSandbox(async (box) => {
      await mkdir(join(box.home, '.docker'), { recursive: true });
      await writeFile(box.dockerConfig, '{ broken');
      await assert.rejects(
        storeCredential('r.example', { username: 'u', password: 'p', source: 'flags' }, { env: box.env }),
        { code: 'BAD_CREDENTIALS_FILE' },
      );
      assert.equal(await readFile(box.dockerConfig, 'utf8'), '{ broken');
    });
  });
});

describe('storeCredential into a credential helper', () => {
  test('credsStore gets `store` with {ServerURL, Username, Secret}; config.json is not rewritten', async () => {
    await withSandbox(async (box) => {
      const helper = await installHelper(box, 'gtstore');
      await writeJson(box.dockerConfig, { credsStore: 'gtstore', auths: {} });
      const before = await readFile(box.dockerConfig, 'utf8');
      const where = await storeCredential(
        'docker.io',
        { username: 'u', password: 'p', source: 'flags' },
        {
          env: box.env,
        },
      );
      assert.deepEqual(where, { kind: 'helper', helper: 'gtstore', configPath: box.dockerConfig });
      assert.deepEqual(await helper.stored('https://index.docker.io/v1/'), {
        ServerURL: 'https://index.docker.io/v1/',
        Username: 'u',
        Secret: 'p',
      });
      assert.equal(await readFile(box.dockerConfig, 'utf8'), before);
      // And the keychain finds it there.
      assert.equal((await createKeychain({ env: box.env }).resolve('docker.io'))?.password, 'p');
    });
  });

  test('credHelpers for the host wins over credsStore; identity tokens go as Username "<token>"', async () => {
    await withSandbox(async (box) => {
      const store = await installHelper(box, 'gtstore');
      const per = await installHelper(box, 'gthost');
      await writeJson(box.dockerConfig, { credsStore: 'gtstore', credHelpers: { 'r.example': 'gthost' } });
      await storeCredential('r.example', { identityToken: 'refresh', source: 'flags' }, { env: box.env });
      assert.deepEqual(await per.stored('r.example'), {
        ServerURL: 'r.example',
        Username: '<token>',
        Secret: 'refresh',
      });
      assert.deepEqual(await store.calls(), []);
    });
  });
});

describe('removeCredential', () => {
  test('erases from the helper and from config.json auths; false when there was nothing', async () => {
    await withSandbox(async (box) => {
      const helper = await installHelper(box, 'gtstore');
      await helper.seed('r.example', 'u', 'p');
      await writeJson(box.dockerConfig, {
        credsStore: 'gtstore',
        auths: { 'r.example': {}, 'https://r.example': { auth: basic('a', 'b') }, 'keep.example': {} },
      });
      assert.equal(await removeCredential('r.example', { env: box.env }), true);
      assert.equal(await helper.stored('r.example'), undefined);
      assert.deepEqual(JSON.parse(await readFile(box.dockerConfig, 'utf8')), {
        credsStore: 'gtstore',
        auths: { 'keep.example': {} },
      });
      assert.equal((await stat(box.dockerConfig)).mode & 0o777, 0o600);
      assert.equal(await removeCredential('r.example', { env: box.env }), false);
      assert.deepEqual(await helper.calls(), ['erase r.example', 'erase r.example']);
    });
  });

  test('without a config.json there is nothing to remove', async () => {
    await withSandbox(async (box) => {
      assert.equal(await removeCredential('r.example', { env: box.env }), false);
      assert.deepEqual(await listDir(box.home), []);
    });
  });
});

describe('login', () => {
  test('a credential the registry refuses is not stored anywhere', async () => {
    await withSandbox(async (box) => {
      const helper = await installHelper(box, 'gtstore');
      const refused = new GantryError('UNAUTHORIZED', 'r.example refused the credential');
      // Without a config.json: nothing may be created.
      await assert.rejects(
        login(
          'r.example',
          { username: 'u', password: 'wrong', source: 'flags' },
          {
            env: box.env,
            verify: async () => {
              throw refused;
            },
          },
        ),
        refused,
      );
      assert.deepEqual(await listDir(box.home), []);
      // With a helper configured: it must not be called.
      await writeJson(box.dockerConfig, { credsStore: 'gtstore' });
      await assert.rejects(
        login(
          'r.example',
          { username: 'u', password: 'wrong', source: 'flags' },
          {
            env: box.env,
            verify: async () => {
              throw refused;
            },
          },
        ),
        refused,
      );
      assert.deepEqual(await helper.calls(), []);
    });
  });

  test('a verified credential is stored, and verify saw exactly it', async () => {
    await withSandbox(async (box) => {
      const cred = { username: 'u', password: 'right', source: 'flags' };
      const verified: unknown[] = [];
      const where = await login('r.example', cred, {
        env: box.env,
        verify: async (c) => {
          verified.push(c);
        },
      });
      assert.deepEqual(verified, [cred]);
      assert.deepEqual(where, { kind: 'file', path: box.dockerConfig });
      assert.equal((await createKeychain({ env: box.env }).resolve('r.example'))?.password, 'right');
    });
  });

  test('an empty password is refused before anything is contacted', async () => {
    await withSandbox(async (box) => {
      let called = false;
      await assert.rejects(
        login(
          'r.example',
          { username: 'u', password: '', source: 'flags' },
          {
            env: box.env,
            verify: async () => {
              called = true;
            },
          },
        ),
        { code: 'CANNOT_STORE_CREDENTIAL' },
      );
      assert.equal(called, false);
    });
  });
});
