// registries.toml: where it is found, what it means, and the errors for what it must not say.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  loadRegistriesConfig,
  mirrorsFor,
  parseRegistriesConfig,
  registryConfigFor,
} from '../../../src/registry/config/index.js';

async function withDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'gantry-config-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const EXAMPLE = `# gantry registries
[registry."localhost:5000"]
http = true            # plain HTTP
insecure = false
ca = "certs/ca.pem"
mirrors = ["mirror.local:5001", "MIRROR2.local"]

[registry."index.docker.io"]
mirrors = [
  "mirror.gcr.io",
  "[::1]:5002",
]

[registry."ghcr.io"]
ca = "~/ghcr-ca.pem"
`;

describe('parseRegistriesConfig', () => {
  test('reads the documented format; hosts and mirrors normalized, ca paths resolved', () => {
    const config = parseRegistriesConfig(EXAMPLE, { path: '/etc/gantry/registries.toml', home: '/home/u' });
    assert.equal(config.path, '/etc/gantry/registries.toml');
    assert.deepEqual([...config.registries.keys()], ['localhost:5000', 'docker.io', 'ghcr.io']);
    assert.deepEqual(registryConfigFor(config, 'localhost:5000'), {
      mirrors: ['mirror.local:5001', 'mirror2.local'],
      http: true,
      insecure: false,
      ca: '/etc/gantry/certs/ca.pem',
    });
    assert.equal(registryConfigFor(config, 'ghcr.io')?.ca, '/home/u/ghcr-ca.pem');
    assert.equal(registryConfigFor(config, 'quay.io'), undefined);
  });

  test('mirrorsFor keeps the order, knows Docker Hub by every name, and is empty for the rest', () => {
    const config = parseRegistriesConfig(EXAMPLE, { path: '/x/registries.toml' });
    assert.deepEqual(mirrorsFor(config, 'localhost:5000'), ['mirror.local:5001', 'mirror2.local']);
    for (const hub of ['docker.io', 'registry-1.docker.io', 'index.docker.io']) {
      assert.deepEqual(mirrorsFor(config, hub), ['mirror.gcr.io', '[::1]:5002'], hub);
    }
    assert.deepEqual(mirrorsFor(config, 'quay.io'), []);
    // The result is a copy: a caller cannot change the config through it.
    mirrorsFor(config, 'localhost:5000').pop();
    assert.equal(mirrorsFor(config, 'localhost:5000').length, 2);
  });

  const bad: [string, string, string][] = [
    ['an unknown top-level key', 'mirrors = []', "R: unknown top-level key 'mirrors'"],
    [
      'a typo in a registry key',
      '[registry."r.example"]\ninsecrue = true',
      `R: [registry."r.example"]: unknown key 'insecrue'`,
    ],
    ['http as a string', '[registry."r.example"]\nhttp = "yes"', '[registry."r.example"]: http must be true or false'],
    [
      'mirrors as a string',
      '[registry."r.example"]\nmirrors = "m"',
      '[registry."r.example"]: mirrors must be an array of hosts',
    ],
    [
      'a mirror with a scheme',
      '[registry."r.example"]\nmirrors = ["https://m.example"]',
      '[registry."r.example"]: mirror "https://m.example" is not a host[:port]',
    ],
    ['a mirror that is not a string', '[registry."r.example"]\nmirrors = [5000]', 'mirror 5000 is not a host[:port]'],
    ['a host with a path', '[registry."r.example/team"]\nhttp = true', `'r.example/team' is not a host[:port]`],
    ['a value instead of a table', 'registry = 1', "R: 'registry' must be a table"],
    [
      'Docker Hub twice under two names',
      '[registry."docker.io"]\nhttp = false\n[registry."index.docker.io"]\nhttp = false',
      'docker.io is configured twice',
    ],
    ['an empty ca', '[registry."r.example"]\nca = ""', 'ca must be a file path'],
  ];
  for (const [name, text, message] of bad) {
    test(`refuses ${name}`, () => {
      assert.throws(
        () => parseRegistriesConfig(text, { path: 'R' }),
        (err: Error & { code?: string; suggestion?: string }) => {
          assert.equal(err.code, 'BAD_CONFIG');
          assert.ok(err.message.startsWith('R: '), err.message);
          assert.ok(err.message.includes(message), `${err.message} should include ${message}`);
          assert.ok(err.suggestion);
          return true;
        },
      );
    });
  }

  test('a TOML syntax error names the file, line and column in one line', () => {
    assert.throws(() => parseRegistriesConfig('[registry."r"]\nhttp = yes\n', { path: '/p/registries.toml' }), {
      code: 'BAD_CONFIG',
      message: '/p/registries.toml:2:8: invalid value',
    });
  });

  test('a file of comments and blank lines is an empty config (not parsed); a bad line after comments is still an error', () => {
    const comments = '# registries.conf\n\n  # [registry."r"]\r\n\t# http = true\n#';
    assert.equal(registryConfigFor(parseRegistriesConfig(comments, { path: 'R' }), 'r'), undefined);
    assert.throws(() => parseRegistriesConfig(`${comments}\nhttp = yes\n`, { path: '/p/registries.toml' }), {
      code: 'BAD_CONFIG',
      message: '/p/registries.toml:6:8: invalid value',
    });
  });

  // The hand-written subset parser refused these as syntax errors; smol-toml reads full TOML 1.0
  // and the checks after parsing decide what registries.toml may say.
  test('inline tables parse and mean the same as [registry."HOST"] tables', () => {
    const inline = parseRegistriesConfig(
      'registry = { "localhost:5000" = { http = true, mirrors = ["m.local"] }, "ghcr.io" = { insecure = false } }',
      { path: 'R' },
    );
    assert.deepEqual(registryConfigFor(inline, 'localhost:5000'), { mirrors: ['m.local'], http: true });
    assert.deepEqual(registryConfigFor(inline, 'ghcr.io'), { mirrors: [], insecure: false });
    const dotted = parseRegistriesConfig('[registry]\n"r.example".http = true\n', { path: 'R' });
    assert.equal(registryConfigFor(dotted, 'r.example')?.http, true);
  });

  test('floats, dates and arrays of tables parse, then the key checks refuse them by name', () => {
    const refuses = (text: string, message: string, suggestion?: RegExp) =>
      assert.throws(
        () => parseRegistriesConfig(text, { path: 'R' }),
        (err: Error & { code?: string; suggestion?: string }) =>
          err.code === 'BAD_CONFIG' &&
          err.message === message &&
          (!suggestion || suggestion.test(err.suggestion ?? '')),
      );
    refuses('[registry."r.example"]\nhttp = 1.5', 'R: [registry."r.example"]: http must be true or false, not 1.5');
    refuses(
      '[registry."r.example"]\ninsecure = 1979-05-27',
      'R: [registry."r.example"]: insecure must be true or false, not 1979-05-27',
    );
    refuses(
      '[[registry]]\nlocation = "r.example"\ninsecure = true',
      "R: 'registry' must be a table of hosts, not an array of tables ([[registry]])",
      /containers registries\.conf/,
    );
    refuses('timeout = 2.5', "R: unknown top-level key 'timeout'");
    refuses(
      '[registry."r.example"]\nmirrors = [{ host = "m" }]',
      'R: [registry."r.example"]: mirror {"host":"m"} is not a host[:port]',
    );
  });
});

describe('loadRegistriesConfig', () => {
  test('GANTRY_CONFIG, else $XDG_CONFIG_HOME/gantry, else ~/.config/gantry', async () => {
    await withDir(async (dir) => {
      const home = join(dir, 'home');
      const xdg = join(dir, 'xdg');
      const explicit = join(dir, 'explicit.toml');
      const write = async (path: string, host: string) => {
        await mkdir(join(path, '..'), { recursive: true });
        await writeFile(path, `[registry."${host}"]\nhttp = true\n`);
      };
      await write(join(home, '.config', 'gantry', 'registries.toml'), 'home.example');
      await write(join(xdg, 'gantry', 'registries.toml'), 'xdg.example');
      await write(explicit, 'explicit.example');
      const hosts = async (env: NodeJS.ProcessEnv) => [...(await loadRegistriesConfig({ env })).registries.keys()];
      assert.deepEqual(await hosts({ HOME: home, XDG_CONFIG_HOME: xdg, GANTRY_CONFIG: explicit }), [
        'explicit.example',
      ]);
      assert.deepEqual(await hosts({ HOME: home, XDG_CONFIG_HOME: xdg }), ['xdg.example']);
      assert.deepEqual(await hosts({ HOME: home }), ['home.example']);
      assert.deepEqual(
        [...(await loadRegistriesConfig({ path: explicit, env: { HOME: home } })).registries.keys()],
        ['explicit.example'],
      );
    });
  });

  test('no file at the default path is an empty config; a named file that is missing is an error', async () => {
    await withDir(async (dir) => {
      const empty = await loadRegistriesConfig({ env: { HOME: dir } });
      assert.equal(empty.registries.size, 0);
      assert.equal(empty.path, undefined);
      const missing = join(dir, 'nope.toml');
      await assert.rejects(loadRegistriesConfig({ env: { HOME: dir, GANTRY_CONFIG: missing } }), {
        code: 'BAD_CONFIG',
        message: `${missing}: does not exist`,
      });
    });
  });

  test('a relative ca is resolved against the file, not the working directory', async () => {
    await withDir(async (dir) => {
      const path = join(dir, 'conf', 'registries.toml');
      await mkdir(join(dir, 'conf'));
      await writeFile(path, '[registry."r.example"]\nca = "ca.pem"\n');
      const config = await loadRegistriesConfig({ env: { HOME: dir, GANTRY_CONFIG: path } });
      assert.equal(registryConfigFor(config, 'r.example')?.ca, join(dir, 'conf', 'ca.pem'));
    });
  });
});
