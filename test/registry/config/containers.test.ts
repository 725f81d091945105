// containers registries.conf, as buildah, podman and skopeo users already have it: which files are
// read and in what order, what gantry takes from them (insecure, blocked, mirrors,
// unqualified-search-registries), how registries.toml wins, and a blocked registry refused
// before any byte is sent.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { GantryError } from '../../../src/errors.js';
import {
  blockedBy,
  configFilesRead,
  createHostSettings,
  loadRegistriesConfig,
  mirrorsFor,
  parseContainersRegistriesConf,
  registryConfigFor,
  searchRegistries,
} from '../../../src/registry/config/index.js';
import { createHttpTransport } from '../../../src/registry/transport/http.js';
import { NO_PROXIES } from '../../../src/registry/transport/proxy.js';
import { startServer } from '../transport/helpers.js';

async function withDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'gantry-containers-conf-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function put(path: string, text: string): Promise<void> {
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(path, text);
}

// The shape of a registries.conf as Fedora and corporate setups write it (containers-registries.conf(5)).
const V2 = `
unqualified-search-registries = ["registry.corp", "quay.io"]
short-name-mode = "enforcing"

[aliases]
"fedora" = "registry.fedoraproject.org/fedora"

[[registry]]
prefix = "docker.io"
location = "docker.io"
[[registry.mirror]]
location = "mirror.corp:5000"
insecure = true
[[registry.mirror]]
location = "mirror.corp/dockerhub"

[[registry]]
location = "legacy.corp:5000"
insecure = true

[[registry]]
location = "evil.example"
blocked = true

[[registry]]
prefix = "quay.io/untrusted"
location = "quay.io/untrusted"
blocked = true

[[registry]]
prefix = "ghcr.io/team"
location = "registry.corp/ghcr-team"
`;

describe('parseContainersRegistriesConf', () => {
  const path = '/etc/containers/registries.conf';
  const conf = parseContainersRegistriesConf(V2, path);
  const config = { registries: new Map(), containers: conf };

  test('reads [[registry]] entries, mirrors and the search list; keys gantry does not use are accepted', () => {
    assert.deepEqual(conf.unqualifiedSearchRegistries, ['registry.corp', 'quay.io']);
    assert.deepEqual(
      conf.registries.map((r) => [r.prefix, r.location]),
      [
        ['docker.io', 'docker.io'],
        ['legacy.corp:5000', 'legacy.corp:5000'],
        ['evil.example', 'evil.example'],
        ['quay.io/untrusted', 'quay.io/untrusted'],
        ['ghcr.io/team', 'registry.corp/ghcr-team'],
      ],
    );
    // What gantry cannot honour is listed, not silently dropped.
    assert.deepEqual(conf.ignored, [
      `${path}: mirror mirror.corp/dockerhub of docker.io: mirrors with a path are not supported by gantry`,
      `${path}: prefix ghcr.io/team -> location registry.corp/ghcr-team: remapping is not supported by gantry`,
    ]);
  });

  test('insecure registries and insecure mirrors; host mirrors in order, for Docker Hub by every name', () => {
    assert.deepEqual(registryConfigFor(config, 'legacy.corp:5000'), { insecure: true, mirrors: [] });
    assert.deepEqual(registryConfigFor(config, 'mirror.corp:5000'), { insecure: true, mirrors: [] });
    for (const hub of ['docker.io', 'index.docker.io', 'registry-1.docker.io']) {
      assert.deepEqual(mirrorsFor(config, hub), ['mirror.corp:5000']);
    }
    assert.equal(registryConfigFor(config, 'quay.io'), undefined);
  });

  test('blocked registries and repository prefixes', () => {
    assert.deepEqual(blockedBy(config, 'evil.example'), { prefix: 'evil.example', file: path });
    assert.deepEqual(blockedBy(config, 'evil.example', 'any/repo'), { prefix: 'evil.example', file: path });
    assert.deepEqual(blockedBy(config, 'quay.io', 'untrusted/app'), { prefix: 'quay.io/untrusted', file: path });
    assert.equal(blockedBy(config, 'quay.io', 'untrusted-not/app'), undefined);
    assert.equal(blockedBy(config, 'quay.io', 'trusted/app'), undefined);
    assert.equal(blockedBy(config, 'quay.io'), undefined);
  });

  test('short names: the search list in order, docker.io when no file sets one', () => {
    assert.deepEqual(searchRegistries(config), ['registry.corp', 'quay.io']);
    const withHub = parseContainersRegistriesConf('unqualified-search-registries = ["quay.io", "docker.io"]', path);
    assert.deepEqual(searchRegistries({ registries: new Map(), containers: withHub }), ['quay.io', 'docker.io']);
    assert.deepEqual(searchRegistries({ registries: new Map() }), ['docker.io']);
  });

  test('version 1 lists: search, insecure and block', () => {
    const v1 = parseContainersRegistriesConf(
      '[registries.search]\nregistries = ["registry.corp"]\n[registries.insecure]\nregistries = ["old.corp:5000"]\n[registries.block]\nregistries = ["bad.example"]\n',
      path,
    );
    const c = { registries: new Map(), containers: v1 };
    assert.deepEqual(searchRegistries(c), ['registry.corp']);
    assert.equal(registryConfigFor(c, 'old.corp:5000')?.insecure, true);
    assert.ok(blockedBy(c, 'bad.example'));
  });

  const bad: [string, string, string][] = [
    // A typo must not silently drop a block.
    [
      'a typo in a [[registry]] key',
      '[[registry]]\nlocation = "x.example"\nblokced = true',
      "[[registry]] #1: unknown key 'blokced'",
    ],
    [
      'blocked as a string',
      '[[registry]]\nlocation = "x.example"\nblocked = "yes"',
      'blocked must be true or false, not "yes"',
    ],
    ['an entry without location or prefix', '[[registry]]\ninsecure = true', 'has neither location nor prefix'],
    [
      'a location with a scheme',
      '[[registry]]\nlocation = "https://x.example"',
      'location "https://x.example" is not host[:port][/path]',
    ],
    [
      'a mirror without location',
      '[[registry]]\nlocation = "x.example"\n[[registry.mirror]]\ninsecure = true',
      'mirror #1: has no location',
    ],
    ['registry as a single table', '[registry]\nlocation = "x.example"', "'registry' must be an array of tables"],
    ['a search list of numbers', 'unqualified-search-registries = [1]', 'must be an array of strings'],
    ['a TOML syntax error', '[[registry]\nlocation = "x"', `${path}:1:`],
  ];
  for (const [name, text, message] of bad) {
    test(`refuses ${name}, naming the file`, () => {
      assert.throws(
        () => parseContainersRegistriesConf(text, path),
        (err: unknown) =>
          GantryError.is(err) &&
          err.code === 'BAD_CONFIG' &&
          err.message.startsWith(`${path}:`) &&
          err.message.includes(message) &&
          !err.message.includes('\n') &&
          err.suggestion !== undefined,
      );
    });
  }
});

describe('loadRegistriesConfig with containers registries.conf', () => {
  test('CONTAINERS_REGISTRIES_CONF, then drop-ins in name order (system, then user), later ones winning', async () => {
    await withDir(async (dir) => {
      const system = join(dir, 'etc', 'registries.conf');
      const explicit = join(dir, 'explicit.conf');
      await put(system, '[[registry]]\nlocation = "sys.example"\ninsecure = true\n');
      await put(
        explicit,
        'unqualified-search-registries = ["first.example"]\n[[registry]]\nlocation = "a.example"\ninsecure = true\n',
      );
      await put(`${system}.d/20-b.conf`, '[[registry]]\nlocation = "a.example"\nblocked = true\n');
      await put(`${system}.d/10-a.conf`, 'unqualified-search-registries = ["second.example"]\n');
      await put(`${system}.d/README`, 'not a conf file, not read');
      await put(
        join(dir, 'home', '.config', 'containers', 'registries.conf.d', '00-user.conf'),
        'unqualified-search-registries = ["user.example"]\n',
      );
      const config = await loadRegistriesConfig({
        env: { HOME: join(dir, 'home'), CONTAINERS_REGISTRIES_CONF: explicit },
        containers: { systemFile: system },
      });
      assert.deepEqual(configFilesRead(config), [
        explicit,
        `${system}.d/10-a.conf`,
        `${system}.d/20-b.conf`,
        join(dir, 'home', '.config', 'containers', 'registries.conf.d', '00-user.conf'),
      ]);
      // 20-b.conf's entry for a.example replaced the explicit file's; the user drop-in came last.
      assert.deepEqual(blockedBy(config, 'a.example'), { prefix: 'a.example', file: `${system}.d/20-b.conf` });
      assert.equal(registryConfigFor(config, 'a.example'), undefined);
      assert.equal(registryConfigFor(config, 'sys.example'), undefined);
      assert.deepEqual(searchRegistries(config), ['user.example']);
    });
  });

  test("a user's registries.conf ($XDG_CONFIG_HOME first) replaces the system file and its drop-ins", async () => {
    await withDir(async (dir) => {
      const system = join(dir, 'etc', 'registries.conf');
      await put(system, '[[registry]]\nlocation = "sys.example"\nblocked = true\n');
      await put(`${system}.d/10.conf`, '[[registry]]\nlocation = "sysdrop.example"\nblocked = true\n');
      const xdg = join(dir, 'xdg');
      await put(
        join(xdg, 'containers', 'registries.conf'),
        '[[registry]]\nlocation = "user.example"\ninsecure = true\n',
      );
      await put(join(dir, 'home', '.config', 'containers', 'registries.conf'), 'not read = "because XDG wins"\n');
      const config = await loadRegistriesConfig({
        env: { HOME: join(dir, 'home'), XDG_CONFIG_HOME: xdg },
        containers: { systemFile: system },
      });
      assert.deepEqual(configFilesRead(config), [join(xdg, 'containers', 'registries.conf')]);
      assert.equal(registryConfigFor(config, 'user.example')?.insecure, true);
      assert.equal(blockedBy(config, 'sys.example'), undefined);
    });
  });

  test('registries.toml wins for a host both files configure; a registries.conf block still applies', async () => {
    await withDir(async (dir) => {
      const system = join(dir, 'registries.conf');
      await put(
        system,
        '[[registry]]\nlocation = "both.example"\ninsecure = true\n[[registry.mirror]]\nlocation = "conf-mirror.example"\n' +
          '[[registry]]\nlocation = "blocked.example"\nblocked = true\n',
      );
      const toml = join(dir, 'gantry.toml');
      await put(
        toml,
        '[registry."both.example"]\nmirrors = ["toml-mirror.example"]\n[registry."blocked.example"]\nhttp = true\n',
      );
      const config = await loadRegistriesConfig({
        env: { HOME: dir, GANTRY_CONFIG: toml },
        containers: { systemFile: system },
      });
      assert.deepEqual(registryConfigFor(config, 'both.example'), { mirrors: ['toml-mirror.example'] });
      assert.deepEqual(mirrorsFor(config, 'both.example'), ['toml-mirror.example']);
      assert.ok(blockedBy(config, 'blocked.example'));
      assert.deepEqual(configFilesRead(config), [toml, system]);
    });
  });

  test('no containers files: nothing read, nothing changed', async () => {
    await withDir(async (dir) => {
      const config = await loadRegistriesConfig({
        env: { HOME: dir },
        containers: { systemFile: join(dir, 'none.conf') },
      });
      assert.deepEqual(configFilesRead(config), []);
      assert.deepEqual(searchRegistries(config), ['docker.io']);
    });
  });

  test('a CONTAINERS_REGISTRIES_CONF that does not exist is an error naming it', async () => {
    await withDir(async (dir) => {
      const missing = join(dir, 'missing.conf');
      await assert.rejects(
        loadRegistriesConfig({
          env: { HOME: dir, CONTAINERS_REGISTRIES_CONF: missing },
          containers: { systemFile: join(dir, 'x') },
        }),
        { code: 'BAD_CONFIG', message: `${missing}: does not exist` },
      );
    });
  });
});

describe('blocked registries are refused', () => {
  test('blocked registry: refused with one line naming the file, before any request reaches it', async () => {
    await withDir(async (dir) => {
      const server = await startServer((_req, res) => res.end('{}'));
      try {
        const system = join(dir, 'registries.conf');
        await put(
          system,
          `[[registry]]\nlocation = "${server.host}"\nblocked = true\n` +
            `[[registry]]\nlocation = "127.0.0.1:1/unused"\nblocked = true\n`,
        );
        const config = await loadRegistriesConfig({ env: { HOME: dir }, containers: { systemFile: system } });
        const http = createHttpTransport({
          hostSettings: createHostSettings({ config, certsDirs: [] }),
          proxy: NO_PROXIES,
        });
        try {
          await assert.rejects(
            http({ method: 'GET', url: new URL('/v2/', server.url) }),
            (err: unknown) =>
              GantryError.is(err) &&
              err.code === 'REGISTRY_BLOCKED' &&
              err.message === `${server.host} is blocked by ${system}` &&
              /blocked = true/.test(err.suggestion ?? ''),
          );
          assert.equal(server.requests.length, 0);
        } finally {
          http.close();
        }
      } finally {
        await server.close();
      }
    });
  });

  test('blocked repository prefix: that repository is refused, its neighbours and the ping are not', async () => {
    await withDir(async (dir) => {
      const server = await startServer((_req, res) => res.end('{}'));
      try {
        const system = join(dir, 'registries.conf');
        await put(
          system,
          `[[registry]]\nprefix = "${server.host}/untrusted"\nlocation = "${server.host}/untrusted"\nblocked = true\n`,
        );
        const config = await loadRegistriesConfig({ env: { HOME: dir }, containers: { systemFile: system } });
        const http = createHttpTransport({
          hostSettings: createHostSettings({ config, certsDirs: [] }),
          proxy: NO_PROXIES,
        });
        try {
          await assert.rejects(
            http({ method: 'GET', url: new URL('/v2/untrusted/app/manifests/latest', server.url) }),
            { code: 'REGISTRY_BLOCKED', message: `${server.host}/untrusted is blocked by ${system}` },
          );
          for (const path of ['/v2/', '/v2/untrusted-not/app/manifests/latest', '/v2/team/untrusted/blobs/sha256:00']) {
            const res = await http({ method: 'GET', url: new URL(path, server.url) });
            await res.discard();
          }
          assert.deepEqual(
            server.requests.map((r) => r.url),
            ['/v2/', '/v2/untrusted-not/app/manifests/latest', '/v2/team/untrusted/blobs/sha256:00'],
          );
        } finally {
          http.close();
        }
      } finally {
        await server.close();
      }
    });
  });
});
