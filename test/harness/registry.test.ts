// Pins the registry harness: every mode starts the real distribution registry and answers /v2/
// as that mode must (basic auth refuses anonymous requests), stop() really stops it and removes
// its files, a failed start says why with the registry's own log, and the config builder emits
// the sections later modes rely on.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { busyboxImage } from './fixtures.js';
import { freePort, type RegistryMode, registryConfig, registryRequest, startRegistry } from './registry.js';
import { run } from './run.js';

describe('startRegistry', () => {
  for (const mode of ['http', 'tls'] as const satisfies readonly RegistryMode[]) {
    test(`${mode}: /v2/ answers 200 on ${mode === 'http' ? 'http' : 'https'}://127.0.0.1`, async () => {
      const reg = await startRegistry({ mode });
      try {
        assert.match(reg.host, /^127\.0\.0\.1:\d+$/);
        assert.equal(reg.url, `${mode === 'http' ? 'http' : 'https'}://${reg.host}`);
        const res = await registryRequest(reg, '/v2/');
        assert.equal(res.status, 200, reg.logTail());
        assert.equal(res.headers['docker-distribution-api-version'], 'registry/2.0');
        if (mode === 'tls') {
          assert.ok(reg.caFile && reg.certsDir);
          assert.ok(reg.certsDir.endsWith(`/${reg.host}`));
          assert.deepEqual(await readFile(`${reg.certsDir}/ca.crt`), await readFile(reg.caFile));
          // The certificate must verify against the CA for the IP the tests connect to.
          await run('openssl', ['verify', '-CAfile', reg.caFile, join(dirname(reg.configFile), 'tls', 'server.crt')]);
        } else {
          assert.equal(reg.caFile, undefined);
        }
        const config = await readFile(reg.configFile, 'utf8');
        assert.match(config, /delete:\n\s+enabled: true/);
        assert.match(config, /redirect:\n\s+disable: true/);
      } finally {
        await reg.stop();
      }
    });
  }

  test('tls: a client that does not trust the generated CA is refused', async () => {
    const reg = await startRegistry({ mode: 'tls' });
    try {
      await assert.rejects(registryRequest({ url: reg.url }, '/v2/'), /self[- ]signed|unable to verify|certificate/i);
    } finally {
      await reg.stop();
    }
  });

  test('tls-basic: 401 with a Basic challenge without credentials, 200 with them, 401 with a wrong password', async () => {
    const reg = await startRegistry({ mode: 'tls-basic', username: 'alice', password: 's3cret' });
    try {
      assert.equal(reg.username, 'alice');
      assert.equal(reg.password, 's3cret');
      const anon = await registryRequest(reg, '/v2/');
      assert.equal(anon.status, 401);
      assert.match(String(anon.headers['www-authenticate']), /^Basic realm="gantry-test"/);
      assert.equal((await registryRequest(reg, '/v2/', { auth: true })).status, 200, reg.logTail());
      const wrong = await registryRequest(reg, '/v2/', { auth: { username: 'alice', password: 'nope' } });
      assert.equal(wrong.status, 401);
    } finally {
      await reg.stop();
    }
  });

  test('tls-basic without credentials given invents a password', async () => {
    const reg = await startRegistry({ mode: 'tls-basic' });
    try {
      assert.ok(reg.username && reg.password && reg.password.length >= 16);
      assert.equal((await registryRequest(reg, '/v2/', { auth: true })).status, 200);
    } finally {
      await reg.stop();
    }
  });

  test('stop() ends the registry and removes its storage; calling it twice is harmless', async () => {
    const reg = await startRegistry({ mode: 'http' });
    const { storageDir } = reg;
    assert.ok(existsSync(storageDir));
    await reg.stop();
    await reg.stop();
    assert.equal(existsSync(storageDir), false);
    await assert.rejects(registryRequest(reg, '/v2/'), /ECONNREFUSED/);
  });

  // A test that forgets stop(), or a test process killed by the runner, must not leave a
  // registry listening or its temp dir behind.
  for (const ending of ['exit', 'SIGTERM'] as const) {
    test(`a registry left running is killed and removed when its process ends (${ending})`, async () => {
      const registryJs = join(fileURLToPath(new URL('.', import.meta.url)), 'registry.js');
      const script = [
        `import { startRegistry } from ${JSON.stringify(registryJs)};`,
        "const reg = await startRegistry({ mode: 'tls' });",
        'console.log(JSON.stringify({ url: reg.url, storageDir: reg.storageDir }));',
        ending === 'SIGTERM' ? 'setInterval(() => {}, 1000);' : '',
      ].join('\n');
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      let out = '';
      for await (const chunk of child.stdout) {
        out += String(chunk);
        if (out.includes('\n')) break;
      }
      const { url, storageDir } = JSON.parse(out) as { url: string; storageDir: string };
      if (ending === 'SIGTERM') child.kill('SIGTERM');
      await exited;
      assert.equal(existsSync(storageDir), false, 'temp dir removed');
      await assert.rejects(registryRequest({ url }, '/v2/', { timeoutMs: 2000 }), /ECONNREFUSED/);
    });
  }

  test('storageFrom: a registry on a kept storage serves its images; a push there never reaches the kept files', async () => {
    const fixture = await busyboxImage();
    const kept = await mkdtemp(join(tmpdir(), 'gantry-kept-storage-'));
    try {
      const first = await startRegistry({ mode: 'http' });
      try {
        await run('skopeo', [
          'copy',
          '--all',
          '--dest-tls-verify=false',
          `oci:${fixture.layoutDir}:busybox`,
          `docker://${first.host}/lib/bb:1`,
        ]);
        await cp(first.storageDir, join(kept, 'storage'), { recursive: true });
      } finally {
        await first.stop();
      }
      const storage = join(kept, 'storage');
      const tagLink = join(
        storage,
        'docker',
        'registry',
        'v2',
        'repositories',
        'lib',
        'bb',
        '_manifests',
        'tags',
        '1',
        'current',
        'link',
      );
      const before = await readFile(tagLink, 'utf8');
      const reg = await startRegistry({ mode: 'http', storageFrom: storage });
      try {
        const raw = await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/lib/bb:1`]);
        assert.equal(`sha256:${createHash('sha256').update(raw.stdout).digest('hex')}`, before.trim());
        // The tag moved in the copy (one platform's manifest instead of the index): rewritten there only.
        await run('skopeo', [
          'copy',
          '--dest-tls-verify=false',
          `oci:${fixture.layoutDir}:busybox`,
          `docker://${reg.host}/lib/bb:1`,
        ]);
        assert.notEqual(await readFile(join(reg.storageDir, tagLink.slice(storage.length)), 'utf8'), before);
        assert.equal(await readFile(tagLink, 'utf8'), before, 'a push reached the kept storage');
      } finally {
        await reg.stop();
      }
      assert.equal(await readFile(tagLink, 'utf8'), before);
    } finally {
      await rm(kept, { recursive: true, force: true });
    }
  });

  test('a port that is taken fails with the registry log in the message and leaves no files', async () => {
    const port = await freePort();
    // Whoever holds the port may accept and never answer; the harness must notice the registry's exit.
    const held = new Set<Socket>();
    const blocker: Server = createServer((socket) => {
      held.add(socket);
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', resolve));
    try {
      await assert.rejects(startRegistry({ mode: 'http', port }), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'REGISTRY_START_FAILED');
        assert.match(err.message, /address already in use/);
        assert.doesNotMatch(err.message, /\n/);
        return true;
      });
    } finally {
      for (const s of held) s.destroy();
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  test('an aborted start rejects and cleans up', async () => {
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(startRegistry({ mode: 'http', signal: ac.signal }), /abort/i);
  });
});

describe('registryConfig', () => {
  const base = { addr: '127.0.0.1:5000', storageDir: '/tmp/s "x"', secret: 'k' };

  test('plain: no tls or auth sections, quoted paths', () => {
    const yml = registryConfig({ ...base, auth: { kind: 'none' } });
    assert.doesNotMatch(yml, /^auth:/m);
    assert.doesNotMatch(yml, /tls:/);
    assert.doesNotMatch(yml, /^proxy:/m);
    assert.match(yml, /rootdirectory: "\/tmp\/s \\"x\\""/);
    assert.match(yml, /^version: "0\.1"$/m);
  });

  test('htpasswd and token auth sections', () => {
    const basic = registryConfig({ ...base, auth: { kind: 'htpasswd', realm: 'r', path: '/p' } });
    assert.match(basic, /^auth:\n {2}htpasswd:\n {4}realm: "r"\n {4}path: "\/p"$/m);
    const token = registryConfig({
      ...base,
      tls: { certificate: '/c', key: '/k' },
      auth: { kind: 'token', realm: 'https://127.0.0.1:1/token', service: 'svc', issuer: 'iss', rootCertBundle: '/b' },
    });
    assert.match(token, /^ {2}token:\n {4}realm: "https:\/\/127\.0\.0\.1:1\/token"\n {4}service: "svc"/m);
    assert.match(token, /rootcertbundle: "\/b"/);
    assert.match(token, /^ {2}tls:\n {4}certificate: "\/c"\n {4}key: "\/k"$/m);
  });
});
