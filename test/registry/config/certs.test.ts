// certs.d and per-host settings: CAs and client pairs found where docker puts them, the
// precedence flags > registries.toml > certs.d, and the loaded material really working for TLS
// (a server signed by the CA verifies; a server demanding a client certificate accepts the pair).
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { rootCertificates } from 'node:tls';
import { createHostSettings, loadCertsFor, parseRegistriesConfig } from '../../../src/registry/config/index.js';
import type { HostSettings } from '../../../src/registry/transport/types.js';
import { generateTls, type TlsMaterial } from '../../harness/registry.js';
import { run } from '../../harness/run.js';

let dir: string;
let tls: TlsMaterial;
let client: { cert: string; key: string };

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gantry-certs-'));
  tls = await generateTls(join(dir, 'pki'));
  // A client certificate signed by the same CA, for the mutual-TLS test.
  const p = (n: string) => join(dir, 'pki', n);
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await run('openssl', [
    'req',
    '-new',
    ...key,
    '-keyout',
    p('client.key'),
    '-out',
    p('client.csr'),
    '-subj',
    '/CN=gantry client',
  ]);
  await writeFile(p('client.ext'), 'extendedKeyUsage=clientAuth\n');
  await run('openssl', [
    'x509',
    '-req',
    '-in',
    p('client.csr'),
    '-CA',
    tls.caFile,
    '-CAkey',
    tls.caKey,
    '-CAcreateserial',
    '-out',
    p('client.cert'),
    '-days',
    '7',
    '-extfile',
    p('client.ext'),
  ]);
  client = { cert: p('client.cert'), key: p('client.key') };
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function place(root: string, host: string, files: Record<string, string | Buffer>): Promise<void> {
  await mkdir(join(root, host), { recursive: true });
  for (const [name, content] of Object.entries(files)) await writeFile(join(root, host, name), content);
}

describe('loadCertsFor', () => {
  test('CAs add up over every root; the client pair comes from the first root that has one', async () => {
    const roots = [join(dir, 'r1', 'certs.d'), join(dir, 'r2', 'certs.d')];
    const ca = await readFile(tls.caFile);
    await place(roots[0] as string, 'r.example:5000', {
      'ca.crt': ca,
      'client.cert': await readFile(client.cert),
      'client.key': await readFile(client.key),
      README: 'not a certificate, ignored',
    });
    await place(roots[1] as string, 'r.example:5000', { 'extra.crt': ca, 'b.cert': 'second', 'b.key': 'second' });
    const got = await loadCertsFor('r.example:5000', roots);
    assert.equal(got.ca.length, 2);
    assert.deepEqual(got.clientCert, { cert: await readFile(client.cert), key: await readFile(client.key) });
    assert.deepEqual(got.files, [
      join(roots[0] as string, 'r.example:5000', 'ca.crt'),
      join(roots[0] as string, 'r.example:5000', 'client.cert'),
      join(roots[0] as string, 'r.example:5000', 'client.key'),
      join(roots[1] as string, 'r.example:5000', 'extra.crt'),
    ]);
    // Another port is another directory.
    assert.deepEqual(await loadCertsFor('r.example:5001', roots), { ca: [], files: [] });
  });

  test('Docker Hub is found under docker.io whatever name the transport uses', async () => {
    const root = join(dir, 'hub', 'certs.d');
    await place(root, 'docker.io', { 'ca.crt': await readFile(tls.caFile) });
    assert.equal((await loadCertsFor('registry-1.docker.io', [root])).ca.length, 1);
  });

  const broken: [string, Record<string, string>, RegExp][] = [
    ['a .cert without its .key', { 'c.cert': 'x' }, /c\.cert: client certificate without its key c\.key$/],
    ['a .key without its .cert', { 'c.key': 'x' }, /c\.key: client key without its certificate c\.cert$/],
    ['a .crt that is not PEM', { 'ca.crt': 'garbage' }, /ca\.crt: holds no PEM certificate$/],
  ];
  for (const [name, files, message] of broken) {
    test(`${name} is a BAD_CONFIG error naming the file`, async () => {
      const root = join(dir, `broken-${name.replace(/\W+/g, '-')}`);
      await place(root, 'h.example', files);
      await assert.rejects(loadCertsFor('h.example', [root]), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'BAD_CONFIG');
        assert.match(err.message, message);
        return true;
      });
    });
  }
});

describe('createHostSettings', () => {
  test('nothing configured: no settings', async () => {
    const resolve = createHostSettings({ certsDirs: [join(dir, 'none')] });
    assert.deepEqual(await resolve('r.example'), {});
  });

  test('precedence: flags over registries.toml over certs.d; CAs from registries.toml first, then certs.d', async () => {
    const root = join(dir, 'prec', 'certs.d');
    const tomlCa = join(dir, 'prec', 'toml-ca.pem');
    const caPem = await readFile(tls.caFile);
    const tomlPem = Buffer.concat([Buffer.from('# from registries.toml\n'), caPem]);
    await mkdir(dirname(tomlCa), { recursive: true });
    await writeFile(tomlCa, tomlPem);
    await place(root, 'r.example', {
      'ca.crt': caPem,
      'client.cert': await readFile(client.cert),
      'client.key': await readFile(client.key),
    });
    const config = parseRegistriesConfig(
      `[registry."r.example"]\nhttp = false\ninsecure = false\nca = "${tomlCa}"\n[registry."plain.example"]\nhttp = true\n`,
      { path: join(dir, 'prec', 'registries.toml') },
    );
    const fromFiles = createHostSettings({ config, certsDirs: [root] });
    assert.deepEqual(await fromFiles('r.example'), {
      plainHttp: false,
      insecure: false,
      ca: [tomlPem, caPem],
      clientCert: { cert: await readFile(client.cert), key: await readFile(client.key) },
    });
    assert.deepEqual(await fromFiles('plain.example'), { plainHttp: true });
    const flagged = createHostSettings({ config, certsDirs: [root], insecure: true, plainHttp: true });
    const s = await flagged('r.example');
    assert.equal(s.insecure, true);
    assert.equal(s.plainHttp, true);
    assert.deepEqual(s.ca, [tomlPem, caPem]);
    // Flags cover every host of the command, configured or not.
    assert.deepEqual(await flagged('elsewhere.example'), { plainHttp: true, insecure: true });
  });

  test('a registries.toml ca that is missing or not PEM names the config file', async () => {
    const path = join(dir, 'badca', 'registries.toml');
    const config = parseRegistriesConfig('[registry."r.example"]\nca = "missing.pem"\n', { path });
    await assert.rejects(
      createHostSettings({ config, certsDirs: [] })('r.example'),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, 'BAD_CONFIG');
        assert.ok(err.message.startsWith(`${path}: cannot read ca ${join(dir, 'badca', 'missing.pem')}`), err.message);
        return true;
      },
    );
    await mkdir(dirname(path), { recursive: true });
    await writeFile(join(dir, 'badca', 'missing.pem'), 'not pem');
    await assert.rejects(createHostSettings({ config, certsDirs: [] })('r.example'), {
      code: 'BAD_CONFIG',
      message: `${path}: ca ${join(dir, 'badca', 'missing.pem')} holds no PEM certificate`,
    });
  });

  test('settings are read once per host', async () => {
    const root = join(dir, 'once', 'certs.d');
    await place(root, 'r.example', { 'ca.crt': await readFile(tls.caFile) });
    const resolve = createHostSettings({ certsDirs: [root] });
    const first = await resolve('r.example');
    await rm(join(root, 'r.example'), { recursive: true });
    assert.equal(await resolve('r.example'), first);
  });
});

/** One HTTPS request with the TLS options a transport would build from HostSettings. */
function get(port: number, settings: HostSettings): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/v2/',
        ca: [...rootCertificates, ...(settings.ca ?? []).map((b) => b.toString())],
        ...(settings.clientCert ? { cert: settings.clientCert.cert, key: settings.clientCert.key } : {}),
        agent: false,
      },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

test('certs.d material works for TLS: the CA verifies the server, the pair passes a client-certificate check', async () => {
  const server = createServer(
    {
      cert: await readFile(tls.certFile),
      key: await readFile(tls.keyFile),
      ca: await readFile(tls.caFile),
      requestCert: true,
      rejectUnauthorized: true,
    },
    (_req, res) => {
      res.writeHead(200);
      res.end('{}');
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const port = (server.address() as AddressInfo).port;
    const host = `127.0.0.1:${port}`;
    const root = join(dir, 'live', 'certs.d');
    await place(root, host, { 'ca.crt': await readFile(tls.caFile) });
    // CA only: the server is trusted, but it refuses a client without a certificate.
    const caOnly = await createHostSettings({ certsDirs: [root] })(host);
    await assert.rejects(get(port, caOnly), /certificate|socket hang up|ECONNRESET|alert/i);
    await place(root, host, { 'client.cert': await readFile(client.cert), 'client.key': await readFile(client.key) });
    assert.equal(await get(port, await createHostSettings({ certsDirs: [root] })(host)), 200);
    // No certs.d: the system CAs alone do not trust the test CA.
    await assert.rejects(get(port, {}), /self[- ]signed|unable to verify|certificate/i);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});
