/**
 * Test harness: wheels without PyPI. `makeWheel` writes a pure-Python wheel by hand (a zip with
 * the module, METADATA, WHEEL and RECORD, through the host's python3 zipfile: no build backend
 * to download), and `startSimpleIndex` serves a directory of wheels as a PEP 503 simple index on
 * loopback, optionally behind basic auth (for the credentials tests).
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { run } from './run.js';

const SCRIPT = `
import base64, hashlib, json, sys, zipfile
out, name, version, module, body = sys.argv[1:6]
scripts = dict(json.loads(sys.argv[6])) if len(sys.argv) > 6 else {}
dist = f"{name.replace('-', '_')}-{version}"
files = {
    f"{module}.py": body,
    f"{dist}.dist-info/METADATA": f"Metadata-Version: 2.1\\nName: {name}\\nVersion: {version}\\nLicense: MIT\\n",
    f"{dist}.dist-info/WHEEL": "Wheel-Version: 1.0\\nGenerator: gantry-test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n",
}
if scripts:
    files[f"{dist}.dist-info/entry_points.txt"] = "[console_scripts]\\n" + "".join(f"{k} = {v}\\n" for k, v in scripts.items())
record = []
path = f"{out}/{dist}-py3-none-any.whl"
with zipfile.ZipFile(path, "w") as z:
    for n, c in files.items():
        data = c.encode()
        info = zipfile.ZipInfo(n, date_time=(1980, 1, 1, 0, 0, 0))
        z.writestr(info, data)
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{n},sha256={digest},{len(data)}")
    record.append(f"{dist}.dist-info/RECORD,,")
    z.writestr(zipfile.ZipInfo(f"{dist}.dist-info/RECORD", date_time=(1980, 1, 1, 0, 0, 0)), "\\n".join(record) + "\\n")
print(path)
`;

/**
 * Writes NAME-VERSION-py3-none-any.whl holding MODULE.py with `body` into `dir`, with console
 * scripts (name -> `module:function`) when given; returns its path.
 */
export async function makeWheel(
  dir: string,
  name: string,
  version: string,
  module: string,
  body: string,
  scripts?: Readonly<Record<string, string>>,
): Promise<string> {
  const r = await run('python3', [
    '-c',
    SCRIPT,
    dir,
    name,
    version,
    module,
    body,
    ...(scripts ? [JSON.stringify(scripts)] : []),
  ]);
  return r.stdout.trim();
}

export interface SimpleIndex {
  /** `http://127.0.0.1:PORT/simple/` (with user:password@ when auth is on). */
  readonly url: string;
  /** The URL without credentials. */
  readonly plainUrl: string;
  /** Requests seen, as `METHOD PATH authorized?`. */
  readonly requests: string[];
  stop(): Promise<void>;
}

/** A PEP 503 index of the wheels in `dir`. With `auth`, every request needs that basic auth. */
export async function startSimpleIndex(dir: string, auth?: { user: string; password: string }): Promise<SimpleIndex> {
  const requests: string[] = [];
  const expected = auth ? `Basic ${Buffer.from(`${auth.user}:${auth.password}`).toString('base64')}` : undefined;
  const server: Server = createServer((req, res) => {
    void (async () => {
      const ok = expected === undefined || req.headers.authorization === expected;
      requests.push(`${req.method} ${req.url} ${ok}`);
      if (!ok) {
        res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="index"' }).end();
        return;
      }
      const files = (await readdir(dir)).filter((f) => f.endsWith('.whl'));
      const url = req.url ?? '/';
      const project = /^\/simple\/([^/]+)\/?$/.exec(url)?.[1];
      if (url === '/simple/' || url === '/simple') {
        const names = [...new Set(files.map((f) => (f.split('-')[0] as string).toLowerCase().replace(/_/g, '-')))];
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end(`<html><body>${names.map((n) => `<a href="/simple/${n}/">${n}</a>`).join('\n')}</body></html>`);
      } else if (project) {
        const mine = files.filter((f) => (f.split('-')[0] as string).toLowerCase().replace(/_/g, '-') === project);
        if (mine.length === 0) {
          res.writeHead(404).end();
          return;
        }
        const links: string[] = [];
        for (const f of mine) {
          const sum = createHash('sha256')
            .update(await readFile(join(dir, f)))
            .digest('hex');
          links.push(`<a href="/files/${f}#sha256=${sum}">${f}</a>`);
        }
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end(`<html><body>${links.join('\n')}</body></html>`);
      } else if (url.startsWith('/files/') && files.includes(url.slice(7))) {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        res.end(await readFile(join(dir, url.slice(7))));
      } else res.writeHead(404).end();
    })().catch(() => res.writeHead(500).end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const plainUrl = `http://127.0.0.1:${port}/simple/`;
  return {
    url: auth ? `http://${auth.user}:${auth.password}@127.0.0.1:${port}/simple/` : plainUrl,
    plainUrl,
    requests,
    stop: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        // pip keeps its connections alive: close() alone would wait for them.
        server.closeAllConnections();
      }),
  };
}
