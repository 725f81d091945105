// `gantry build DIR`: the first builder, end to end through the real binary, read back by skopeo
// and umoci.
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { gantry, repoRoot, tool, withTempDir } from './helpers.js';

const example = join(repoRoot, 'examples', 'hello');

async function inspectStore(
  store: string,
  name: string,
): Promise<{ config: Record<string, unknown>; raw: Record<string, unknown> }> {
  const config = JSON.parse(await tool('skopeo', ['inspect', '--config', `oci:${store}:${name}`])) as Record<
    string,
    unknown
  >;
  const raw = JSON.parse(await tool('skopeo', ['inspect', '--raw', `oci:${store}:${name}`])) as Record<string, unknown>;
  return { config, raw };
}

test('build a directory, name it, list it, and skopeo reads the store', async () => {
  await withTempDir(async (tmp) => {
    const store = join(tmp, 'store');
    const r = await gantry(['build', example, '-t', 'hello:dev', '--progress', 'plain'], { store });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /COPY/);
    const images = await gantry(['images'], { store });
    assert.equal(images.code, 0, images.stderr);
    assert.match(images.stdout, /^REPOSITORY\s+TAG\s+DIGEST\s+PLATFORMS\s+SIZE/m);
    assert.match(images.stdout, /^hello\s+dev\s+[0-9a-f]{12}\s+linux\/amd64/m);
    const { config } = await inspectStore(store, 'docker.io/library/hello:dev');
    const cfg = config.config as { Env: string[] };
    assert.ok(cfg.Env.some((e) => e.startsWith('PATH=')));
    const rootfs = config.rootfs as { diff_ids: string[] };
    assert.equal(rootfs.diff_ids.length, 1);
    await tool('umoci', ['stat', '--image', `${store}:docker.io/library/hello:dev`]);
  });
});

test('building the same directory twice gives byte-identical digests, even with new mtimes', async () => {
  await withTempDir(async (tmp) => {
    const src = join(tmp, 'src');
    await mkdir(join(src, 'sub'), { recursive: true });
    await writeFile(join(src, 'a.txt'), 'alpha\n');
    await writeFile(join(src, 'sub', 'b.bin'), Buffer.alloc(70_000, 7));
    await symlink('a.txt', join(src, 'link'));
    const one = await gantry(['build', src], { store: join(tmp, 's1') });
    assert.equal(one.code, 0, one.stderr);
    await writeFile(join(src, 'a.txt'), 'alpha\n'); // same content, new mtime
    const two = await gantry(['build', src], { store: join(tmp, 's2') });
    assert.equal(two.code, 0, two.stderr);
    assert.match(one.stdout.trim(), /^sha256:[0-9a-f]{64}$/);
    assert.equal(one.stdout, two.stdout);
    // SOURCE_DATE_EPOCH is the one input besides content that changes the digest.
    const three = await gantry(['build', src], { store: join(tmp, 's3'), env: { SOURCE_DATE_EPOCH: '1700000000' } });
    assert.equal(three.code, 0, three.stderr);
    assert.notEqual(three.stdout, one.stdout);
  });
});

test('every metadata flag lands in the image config', async () => {
  await withTempDir(async (tmp) => {
    const store = join(tmp, 'store');
    const r = await gantry(
      [
        'build',
        example,
        '-t',
        'localhost:5000/team/app:1.0',
        '--workdir',
        '/srv/app',
        '--entrypoint',
        '["/bin/sh","-c"]',
        '--cmd',
        'cat hello.txt',
        '--env',
        'MODE=prod',
        '-e',
        'EMPTY=',
        '--label',
        'org.example.team=core',
        '--user',
        '1000:1000',
        '--expose',
        '8080',
        '--expose',
        '53/udp',
        '--platform',
        'linux/arm64',
      ],
      { store },
    );
    assert.equal(r.code, 0, r.stderr);
    const { config } = await inspectStore(store, 'localhost:5000/team/app:1.0');
    assert.equal(config.architecture, 'arm64');
    assert.equal(config.os, 'linux');
    const c = config.config as Record<string, unknown>;
    assert.equal(c.WorkingDir, '/srv/app');
    assert.deepEqual(c.Entrypoint, ['/bin/sh', '-c']);
    assert.deepEqual(c.Cmd, ['cat', 'hello.txt']);
    assert.ok((c.Env as string[]).includes('MODE=prod'));
    assert.ok((c.Env as string[]).includes('EMPTY='));
    assert.deepEqual(c.Labels, { 'org.example.team': 'core' });
    assert.equal(c.User, '1000:1000');
    assert.deepEqual(c.ExposedPorts, { '8080/tcp': {}, '53/udp': {} });
    // The files are placed in the working directory.
    const out = join(tmp, 'rootfs');
    const x = await gantry(['build', example, '--workdir', '/srv/app', '--output', `type=local,dest=${out}`], {
      store,
    });
    assert.equal(x.code, 0, x.stderr);
    assert.equal(
      await readFile(join(out, 'srv', 'app', 'hello.txt'), 'utf8'),
      await readFile(join(example, 'hello.txt'), 'utf8'),
    );
  });
});

test('a base image from the store: layers are kept, an entrypoint clears the inherited cmd', async () => {
  await withTempDir(async (tmp) => {
    const store = join(tmp, 'store');
    const base = join(tmp, 'base');
    await mkdir(join(base, 'etc'), { recursive: true });
    await writeFile(join(base, 'etc', 'os-release'), 'ID=test\n');
    assert.equal((await gantry(['build', base, '-t', 'base:1', '--cmd', 'sh', '--env', 'A=1'], { store })).code, 0);
    const r = await gantry(['build', example, '--from', 'base:1', '-t', 'app:1', '--entrypoint', '/app'], { store });
    assert.equal(r.code, 0, r.stderr);
    const { config } = await inspectStore(store, 'docker.io/library/app:1');
    const c = config.config as Record<string, unknown>;
    assert.equal(c.Cmd, undefined);
    assert.deepEqual(c.Entrypoint, ['/app']);
    assert.ok((c.Env as string[]).includes('A=1'));
    assert.equal((config.rootfs as { diff_ids: string[] }).diff_ids.length, 2);
    assert.equal((config.history as unknown[]).length, 2);
  });
});

test('a multi-platform build from scratch makes an index with one image per platform', async () => {
  await withTempDir(async (tmp) => {
    const store = join(tmp, 'store');
    const r = await gantry(['build', example, '-t', 'multi:1', '--platform', 'linux/amd64,linux/arm64'], { store });
    assert.equal(r.code, 0, r.stderr);
    const raw = JSON.parse(await tool('skopeo', ['inspect', '--raw', `oci:${store}:docker.io/library/multi:1`])) as {
      manifests: { platform: { architecture: string } }[];
    };
    assert.deepEqual(raw.manifests.map((m) => m.platform.architecture).sort(), ['amd64', 'arm64']);
    const images = await gantry(['images'], { store });
    assert.match(images.stdout, /linux\/amd64,linux\/arm64/);
  });
});

test('--iidfile and --metadata-file are written as buildx writes them', async () => {
  await withTempDir(async (tmp) => {
    const store = join(tmp, 'store');
    const iid = join(tmp, 'iid');
    const meta = join(tmp, 'meta.json');
    const r = await gantry(['build', example, '-t', 'hello:meta', '--iidfile', iid, '--metadata-file', meta], {
      store,
    });
    assert.equal(r.code, 0, r.stderr);
    const digest = (await readFile(iid, 'utf8')).trim();
    assert.match(digest, /^sha256:[0-9a-f]{64}$/);
    const m = JSON.parse(await readFile(meta, 'utf8')) as Record<string, unknown>;
    assert.equal(m['containerimage.digest'], digest);
    assert.match(String(m['containerimage.config.digest']), /^sha256:/);
    assert.equal((m['containerimage.descriptor'] as { digest: string }).digest, digest);
    const { raw } = await inspectStore(store, 'docker.io/library/hello:meta');
    assert.equal((raw.config as { digest: string }).digest, m['containerimage.config.digest']);
  });
});

test('file outputs: oci archive, oci layout, docker archive, local dir and rootfs tar are readable by the real tools', async () => {
  await withTempDir(async (tmp) => {
    const store = join(tmp, 'store');
    const o = (n: string) => join(tmp, n);
    const r = await gantry(
      [
        'build',
        example,
        '-t',
        'hello:out',
        '-o',
        `type=oci,dest=${o('img.oci.tar')}`,
        '-o',
        `type=oci,dest=${o('layout')},tar=false`,
        '-o',
        `type=docker,dest=${o('img.docker.tar')}`,
        '-o',
        `type=local,dest=${o('rootfs')}`,
        '-o',
        `type=tar,dest=${o('rootfs.tar')}`,
      ],
      { store },
    );
    assert.equal(r.code, 0, r.stderr);
    const stored = JSON.parse(await tool('skopeo', ['inspect', `oci:${store}:docker.io/library/hello:out`])) as {
      Digest: string;
    };
    const fromArchive = JSON.parse(await tool('skopeo', ['inspect', `oci-archive:${o('img.oci.tar')}`])) as {
      Digest: string;
    };
    assert.equal(fromArchive.Digest, stored.Digest);
    await tool('umoci', ['stat', '--image', `${o('layout')}:out`]);
    const docker = JSON.parse(await tool('skopeo', ['inspect', `docker-archive:${o('img.docker.tar')}`])) as {
      RepoTags?: string[];
      Layers: string[];
    };
    assert.equal(docker.Layers.length, 1);
    const manifest = JSON.parse(await tool('tar', ['-xOf', o('img.docker.tar'), 'manifest.json'])) as {
      RepoTags: string[];
    }[];
    assert.deepEqual(manifest[0]?.RepoTags, ['hello:out']);
    assert.equal(
      await readFile(join(o('rootfs'), 'hello.txt'), 'utf8'),
      await readFile(join(example, 'hello.txt'), 'utf8'),
    );
    const listing = await tool('tar', ['-tf', o('rootfs.tar')]);
    assert.match(listing, /(^|\n)(\.\/)?assets\/site\.css\n/);
  });
});

test('load imports docker and OCI archives into another store', async () => {
  await withTempDir(async (tmp) => {
    const a = join(tmp, 'a');
    const b = join(tmp, 'b');
    const r = await gantry(
      [
        'build',
        example,
        '-t',
        'hello:load',
        '-o',
        `type=docker,dest=${join(tmp, 'd.tar')}`,
        '-o',
        `type=oci,dest=${join(tmp, 'o.tar')}`,
      ],
      { store: a },
    );
    assert.equal(r.code, 0, r.stderr);
    const d = await gantry(['load', join(tmp, 'd.tar')], { store: b });
    assert.equal(d.code, 0, d.stderr);
    assert.match(d.stdout, /Loaded image: docker\.io\/library\/hello:load/);
    const o = await gantry(['load', join(tmp, 'o.tar'), '-t', 'again:1'], { store: b });
    assert.equal(o.code, 0, o.stderr);
    const images = await gantry(['images'], { store: b });
    assert.match(images.stdout, /^hello\s+load/m);
    assert.match(images.stdout, /^again\s+1/m);
    // The OCI archive carries the very same image: the digests agree with the source store.
    const src = JSON.parse(await tool('skopeo', ['inspect', `oci:${a}:docker.io/library/hello:load`])) as {
      Digest: string;
    };
    const dst = JSON.parse(await tool('skopeo', ['inspect', `oci:${b}:docker.io/library/again:1`])) as {
      Digest: string;
    };
    assert.equal(dst.Digest, src.Digest);
  });
});

test('rmi removes the name and prune frees the blobs it no longer needs', async () => {
  await withTempDir(async (tmp) => {
    const store = join(tmp, 'store');
    assert.equal((await gantry(['build', example, '-t', 'keep:1'], { store })).code, 0);
    const src = join(tmp, 'other');
    await mkdir(src);
    await writeFile(join(src, 'big.bin'), Buffer.alloc(300_000, 3));
    assert.equal((await gantry(['build', src, '-t', 'drop:1'], { store })).code, 0);
    const before = await readdir(join(store, 'blobs', 'sha256'));
    const rmi = await gantry(['rmi', 'drop:1'], { store });
    assert.equal(rmi.code, 0, rmi.stderr);
    assert.match(rmi.stdout, /Untagged: docker\.io\/library\/drop:1/);
    const pruned = await gantry(['prune'], { store });
    assert.equal(pruned.code, 0, pruned.stderr);
    // The manifest and config go; the layer is the directory step's build cache, which a plain
    // prune keeps (as for a Dockerfile step) and --build-cache drops.
    assert.match(pruned.stdout, /Deleted 2 blobs/);
    assert.equal((await readdir(join(store, 'blobs', 'sha256'))).length, before.length - 2);
    const dropped = await gantry(['prune', '--build-cache'], { store });
    assert.equal(dropped.code, 0, dropped.stderr);
    assert.match(dropped.stdout, /Deleted 1 blob\n/);
    const after = await readdir(join(store, 'blobs', 'sha256'));
    assert.equal(after.length, before.length - 3);
    // What is still named is intact and readable.
    await tool('skopeo', ['inspect', `oci:${store}:docker.io/library/keep:1`]);
    assert.equal((await gantry(['images'], { store })).stdout.includes('drop'), false);
    const again = await gantry(['rmi', 'drop:1'], { store });
    assert.equal(again.code, 1);
    assert.match(again.stderr, /not in the store/);
  });
});

test('an unnamed build is found by its digest and by a digest prefix', async () => {
  await withTempDir(async (tmp) => {
    const store = join(tmp, 'store');
    const r = await gantry(['build', example], { store });
    assert.equal(r.code, 0, r.stderr);
    const digest = r.stdout.trim();
    const images = await gantry(['images', '--digests'], { store });
    assert.match(images.stdout, new RegExp(`<none>\\s+<none>\\s+${digest}`));
    const child = await gantry(['build', example, '--from', digest.slice(7, 19), '-t', 'child:1'], { store });
    assert.equal(child.code, 0, child.stderr);
  });
});

test('bad input: one line, non-zero exit, nothing written', async () => {
  await withTempDir(async (tmp) => {
    const store = join(tmp, 'store');
    assert.equal((await gantry(['build', example, '-t', 'ok:1'], { store })).code, 0);
    const indexBefore = await readFile(join(store, 'index.json'), 'utf8');
    const dest = join(tmp, 'out.tar');
    const cases: { args: string[]; code: number; message: RegExp }[] = [
      { args: ['build', join(tmp, 'missing')], code: 5, message: /build context .* is not a directory/ },
      // A bad -t is a usage error like any bad flag value (issue 9: it exited 1).
      { args: ['build', example, '-t', 'Bad/Name'], code: 2, message: /must be lowercase/ },
      {
        args: ['build', example, '--from', 'nope:1', '-o', `type=oci,dest=${dest}`],
        code: 1,
        message: /not in the store/,
      },
      { args: ['build', example, '-o', 'type=zip,dest=x'], code: 2, message: /unknown output type "zip"/ },
      { args: ['build', example, '-o', 'type=oci'], code: 2, message: /needs dest=PATH/ },
      { args: ['build', example, '--platform', 'linux/'], code: 2, message: /invalid platform "linux\/"/ },
      { args: ['build', example, '--expose', 'http'], code: 2, message: /invalid port/ },
      { args: ['build', example, '--bogus'], code: 2, message: /Unknown option '--bogus'/ },
      { args: ['frobnicate'], code: 2, message: /unknown command "frobnicate"/ },
      { args: ['load', join(tmp, 'missing.tar')], code: 1, message: /missing\.tar/ },
    ];
    for (const c of cases) {
      const r = await gantry(c.args, { store });
      assert.equal(r.code, c.code, `${c.args.join(' ')}: ${r.stderr}`);
      const lines = r.stderr.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
      assert.equal(lines.length, 1, `${c.args.join(' ')} printed:\n${r.stderr}`);
      assert.match(lines[0] ?? '', /^gantry: error: /);
      assert.match(lines[0] ?? '', c.message);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace without --debug');
    }
    assert.equal(await readFile(join(store, 'index.json'), 'utf8'), indexBefore);
    await assert.rejects(stat(dest));
    assert.deepEqual((await readdir(tmp)).sort(), ['store']);
    const debug = await gantry(['build', join(tmp, 'missing'), '--debug'], { store });
    assert.match(debug.stderr, /\n\s+at /);
  });
});

test('a directory layer is a cached step: an unchanged tree is CACHED with the same digest, a changed one runs again', async () => {
  await withTempDir(async (tmp) => {
    const store = join(tmp, 'store');
    const src = join(tmp, 'src');
    await mkdir(src);
    await writeFile(join(src, 'a.txt'), 'alpha\n');
    const build = async () => {
      const r = await gantry(['build', src, '--progress=json'], { store });
      assert.equal(r.code, 0, r.stderr);
      const events = r.stderr
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { type: string; id?: string; name?: string; cached?: boolean });
      const copy = events.find((e) => e.type === 'start' && e.name?.startsWith('COPY '));
      const done = events.find((e) => e.type === 'done' && e.id === copy?.id);
      return { digest: r.stdout.trim(), cached: done?.cached === true };
    };
    const first = await build();
    assert.equal(first.cached, false);
    await writeFile(join(src, 'a.txt'), 'alpha\n'); // same content, new mtime
    assert.deepEqual(await build(), { digest: first.digest, cached: true });
    await writeFile(join(src, 'a.txt'), 'beta\n');
    const changed = await build();
    assert.equal(changed.cached, false);
    assert.notEqual(changed.digest, first.digest);
  });
});

test('--compression zstd: OCI zstd layers that skopeo unpacks, cached apart from gzip ones; bad values are usage errors', async () => {
  await withTempDir(async (tmp) => {
    const store = join(tmp, 'store');
    const layout = join(tmp, 'zstd');
    const layerOf = async (dir: string) => {
      const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
      const digest = (index.manifests[0]?.digest ?? '').replace('sha256:', '');
      const manifest = JSON.parse(await readFile(join(dir, 'blobs', 'sha256', digest), 'utf8')) as {
        layers: { mediaType: string; digest: string }[];
      };
      return manifest.layers[0];
    };
    // buildx's spelling on the output; --compression-level would do the same.
    const z = await gantry(['build', example, '-o', `type=oci,dest=${layout},tar=false,compression=zstd`], { store });
    assert.equal(z.code, 0, z.stderr);
    assert.equal((await layerOf(layout))?.mediaType, 'application/vnd.oci.image.layer.v1.tar+zstd');
    // The same tree as gzip is not the zstd layer from the cache.
    const gz = await gantry(['build', example, '-o', `type=oci,dest=${join(tmp, 'gzip')},tar=false`], { store });
    assert.equal(gz.code, 0, gz.stderr);
    assert.equal((await layerOf(join(tmp, 'gzip')))?.mediaType, 'application/vnd.oci.image.layer.v1.tar+gzip');
    // Another zstd decoder (containers/image's) reads the frames: skopeo repacks them as gzip for umoci.
    await tool('skopeo', ['copy', '--dest-compress-format', 'gzip', `oci:${layout}`, `oci:${join(tmp, 'repacked')}:z`]);
    await tool('umoci', ['unpack', '--rootless', '--image', `${join(tmp, 'repacked')}:z`, join(tmp, 'bundle')]);
    assert.equal(
      await readFile(join(tmp, 'bundle', 'rootfs', 'hello.txt'), 'utf8'),
      await readFile(join(example, 'hello.txt'), 'utf8'),
    );
    for (const args of [
      ['--compression', 'lz4'],
      ['--compression', 'zstd', '--compression-level', '23'],
      ['--compression-level', '10'],
      ['--compression', 'gzip', '-o', `type=oci,dest=${join(tmp, 'x')},compression=zstd`],
    ]) {
      const bad = await gantry(['build', example, ...args], { store });
      assert.equal(bad.code, 2, `${args.join(' ')}: ${bad.stderr}`);
      assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
    }
    assert.deepEqual(await readdir(tmp).then((l) => l.includes('x')), false);
  });
});
