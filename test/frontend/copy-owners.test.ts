// Owners, modes and destinations of COPY, ADD, WORKDIR and RUN as BuildKit and buildah give them
// (issue 15, items 2-7; issue 8, item 2). Each test names the rule it pins; the images are read
// back through `-o type=local`, which keeps owners when gantry runs as root.
import assert from 'node:assert/strict';
import { lstat, mkdtemp, readFile, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { busyboxStore, gantry, lastLine, ownedArchive, rawConfig, writeTree } from './helpers.js';

let tmp: string;
let store: string;
let n = 0;

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'gantry-owners-'));
  store = await busyboxStore(tmp);
});

after(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/** Builds `dockerfile` with `files` in the context; returns the exported root and the tag. */
async function build(
  dockerfile: string,
  files: Parameters<typeof writeTree>[1] = {},
  setup?: (ctx: string) => Promise<void>,
): Promise<{ out: string; tag: string }> {
  const ctx = join(tmp, `ctx-${++n}`);
  await writeTree(ctx, { ...files, Dockerfile: dockerfile });
  await setup?.(ctx);
  const out = join(tmp, `out-${n}`);
  const tag = `owners:${n}`;
  const r = await gantry(['build', '-t', tag, '-o', `type=local,dest=${out}`, ctx], { store });
  assert.equal(r.code, 0, r.stderr);
  // -o type=local does not name the image; build again (all cached) to tag it for its config.
  const t = await gantry(['build', '-t', tag, ctx], { store });
  assert.equal(t.code, 0, t.stderr);
  return { out, tag };
}

async function meta(root: string, path: string): Promise<string> {
  const st = await lstat(join(root, path));
  return `${(st.mode & 0o7777).toString(8).padStart(4, '0')} ${st.uid}:${st.gid}`;
}

describe('ADD of a local archive keeps the owners and modes it holds', () => {
  test('FROM scratch: ADD sub/subdirectory.tar.gz /sub/ gives 2510:2516 as in the archive', async () => {
    const { out } = await build('FROM scratch\nADD sub/subdirectory.tar.gz /sub/\n', {}, async (ctx) => {
      await writeTree(ctx, { 'sub/.keep': '' });
      await ownedArchive(join(ctx, 'sub', 'subdirectory.tar.gz'));
    });
    assert.equal(await meta(out, 'sub/subdirectory'), '0775 2510:2516');
    assert.equal(await meta(out, 'sub/subdirectory/file'), '0664 2510:2516');
    assert.equal(await meta(out, 'sub/subdirectory/setgid'), '2755 2510:2516');
    assert.equal(await meta(out, 'sub'), '0755 0:0', 'the destination ADD creates is root-owned');
  });

  test('--chown overrides the archive owners', async () => {
    const { out } = await build('FROM busybox:1\nADD --chown=7:8 owned.tar.gz /x/\n', {}, (ctx) =>
      ownedArchive(join(ctx, 'owned.tar.gz')),
    );
    assert.equal(await meta(out, 'x/subdirectory'), '0775 7:8');
    assert.equal(await meta(out, 'x/subdirectory/file'), '0664 7:8');
  });
});

describe('COPY --from keeps the source owner', () => {
  test('USER 66:66 then COPY --from=0 /test /test keeps 65:65 (buildah conformance copy-from-owner)', async () => {
    const { out } = await build(
      'FROM busybox:1\nRUN touch /test && chown 65:65 /test && mkdir /d && chown 65:66 /d && touch /d/f && chown 67:68 /d/f\nFROM scratch\nUSER 66:66\nCOPY --from=0 /test /test\nCOPY --from=0 /d /d\nCOPY --from=0 /d /kept/d/\n',
    );
    assert.equal(await meta(out, 'test'), '0644 65:65');
    assert.equal(await meta(out, 'd/f'), '0644 67:68');
    assert.equal(await meta(out, 'kept'), '0755 0:0', 'parents COPY creates are root-owned');
  });

  test('--chown still overrides', async () => {
    const { out } = await build(
      'FROM busybox:1\nRUN touch /test && chown 65:65 /test\nFROM scratch\nUSER 66:66\nCOPY --from=0 --chown=1:1 /test /test\n',
    );
    assert.equal(await meta(out, 'test'), '0644 1:1');
  });
});

describe('COPY never changes a directory that already exists at its destination', () => {
  const files = { 'subdir/file': 'f\n', 'subdir/inner/g': 'g\n', f: 'config\n' };

  test('COPY subdir/ subdir/ then COPY --chown=99:99 subdir/ subdir/: subdir stays 0:0', async () => {
    const { out } = await build('FROM busybox:1\nCOPY subdir/ subdir/\nCOPY --chown=99:99 subdir/ subdir/\n', files);
    assert.equal(await meta(out, 'subdir'), '0755 0:0');
    assert.equal(await meta(out, 'subdir/file'), '0644 99:99', 'what is copied takes --chown');
  });

  test('the reverse order: subdir stays 99:99', async () => {
    const { out } = await build('FROM busybox:1\nCOPY --chown=99:99 subdir/ subdir/\nCOPY subdir/ subdir/\n', files);
    assert.equal(await meta(out, 'subdir'), '0755 99:99');
    assert.equal(await meta(out, 'subdir/file'), '0644 0:0');
  });

  test('COPY --chown does not re-own existing parent directories: /etc stays root-owned (issue 8 item 2)', async () => {
    const { out } = await build(
      "FROM busybox:1\nRUN echo 'app:x:1000:1000::/home/app:/bin/sh' >> /etc/passwd && echo 'app:x:1000:' >> /etc/group\nCOPY --chown=app:app f /etc/app/f\n",
      files,
    );
    assert.equal(await meta(out, 'etc'), '0755 0:0', 'an application user must not own /etc');
    assert.equal(await meta(out, 'etc/app'), '0755 1000:1000', 'the parent COPY creates takes --chown');
    assert.equal(await meta(out, 'etc/app/f'), '0644 1000:1000');
  });

  test('COPY into /tmp keeps its mode 1777, ADD too', async () => {
    const { out } = await build('FROM busybox:1\nCOPY --chown=5:5 f /tmp/f\nADD --chown=5:5 subdir /tmp/sub/\n', files);
    assert.equal(await meta(out, 'tmp'), '1777 0:0');
    assert.equal(await meta(out, 'tmp/sub'), '0755 5:5');
  });
});

describe('ADD and COPY resolve their destination through symlinks inside the root', () => {
  test('a dangling link is followed and kept: ADD . /symlink/subdirectory/', async () => {
    const { out } = await build('FROM busybox:1\nRUN ln -s symlink-target /symlink\nADD . /symlink/subdirectory/\n', {
      'a.txt': 'alpha\n',
    });
    assert.equal((await lstat(join(out, 'symlink'))).isSymbolicLink(), true, '/symlink stays a link');
    assert.equal(await readlink(join(out, 'symlink')), 'symlink-target');
    assert.equal(await readFile(join(out, 'symlink-target', 'subdirectory', 'a.txt'), 'utf8'), 'alpha\n');
  });

  test('an absolute link to an existing directory: COPY lands in its target, inside the root', async () => {
    const { out } = await build('FROM busybox:1\nRUN mkdir /real && ln -s /real /abs\nCOPY a.txt /abs/\n', {
      'a.txt': 'alpha\n',
    });
    assert.equal((await lstat(join(out, 'abs'))).isSymbolicLink(), true);
    assert.equal(await readFile(join(out, 'real', 'a.txt'), 'utf8'), 'alpha\n');
  });
});

describe('a file copied to a path that is a directory in the stage goes inside it', () => {
  test('COPY a.txt /tmp writes /tmp/a.txt and keeps /tmp a 1777 directory', async () => {
    const { out } = await build('FROM busybox:1\nCOPY a.txt /tmp\nCOPY a.txt /new\n', { 'a.txt': 'alpha\n' });
    assert.equal(await meta(out, 'tmp'), '1777 0:0');
    assert.equal(await readFile(join(out, 'tmp', 'a.txt'), 'utf8'), 'alpha\n');
    assert.equal(await readFile(join(out, 'new'), 'utf8'), 'alpha\n', 'a path the stage lacks is the file itself');
  });
});

describe('WORKDIR and RUN users', () => {
  test('WORKDIR under a USER that /etc/passwd lacks creates the directory as root, config as written', async () => {
    const { out, tag } = await build('FROM busybox:1\nUSER daemon\nWORKDIR /work/dir/\n');
    assert.equal(await meta(out, 'work/dir'), '0755 0:0');
    const cfg = (await rawConfig(store, tag)).config;
    assert.equal(cfg.User, 'daemon');
    assert.equal(cfg.WorkingDir, '/work/dir/', 'the trailing / is kept');
  });

  test('RUN under a USER name that /etc/passwd lacks is an error', async () => {
    const ctx = join(tmp, `ctx-${++n}`);
    await writeTree(ctx, { Dockerfile: 'FROM busybox:1\nUSER daemon\nWORKDIR /tmp/\nRUN true\n' });
    const r = await gantry(['build', ctx], { store });
    assert.notEqual(r.code, 0);
    assert.match(lastLine(r.stderr), /unable to find user daemon/);
  });

  test('RUN sets HOME from /etc/passwd, / without an entry, and keeps a HOME the config sets', async () => {
    const { out } = await build(`FROM busybox:1
RUN echo "$HOME" > /tmp/home-root
USER nobody
RUN echo "$HOME" > /tmp/home-nobody
USER 4242
RUN echo "$HOME" > /tmp/home-4242
ENV HOME=/custom
RUN echo "$HOME" > /tmp/home-env
`);
    const home = (who: string) => readFile(join(out, 'tmp', `home-${who}`), 'utf8');
    assert.equal(await home('root'), '/root\n');
    assert.equal(await home('nobody'), '/home\n', "nobody's passwd entry");
    assert.equal(await home('4242'), '/\n', 'no passwd entry');
    assert.equal(await home('env'), '/custom\n', 'ENV HOME wins');
  });
});
