// `gantry build` of Dockerfiles on the busybox fixture, through the real binary: every
// instruction, read back from the image config (skopeo, raw, so Docker-only fields such as
// Healthcheck, Shell and OnBuild are checked as written) and from the exported files; ARG scoping
// and the predefined platform ARGs; COPY/ADD variants; RUN forms and its network; .dockerignore;
// multi-stage graphs and --target; the step cache as --progress=json reports it; a foreign
// architecture through qemu; and bad input, each a one-line error that leaves nothing named.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chown, lstat, mkdtemp, readFile, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { checkPlatform } from '../../src/engine/executor/index.js';
import { GantryError } from '../../src/errors.js';
import { freePort } from '../harness/registry.js';
import { run as runTool } from '../harness/run.js';
import {
  type BuildReport,
  buildJson,
  busyboxStore,
  gantry,
  lastLine,
  rawConfig,
  storeHas,
  tool,
  writeTree,
} from './helpers.js';

const HOST_ARCH = process.arch === 'x64' ? 'amd64' : process.arch;
const BASE_HISTORY = 1; // the busybox fixture has one history entry

let tmp: string;
let store: string;
let n = 0;

/** A fresh context directory with `files`; the Dockerfile is one of them. */
async function context(files: Parameters<typeof writeTree>[1]): Promise<string> {
  const dir = join(tmp, `ctx-${++n}`);
  await writeTree(dir, files);
  return dir;
}

/** A fresh, not yet existing directory for `-o type=local`. */
function outDir(): string {
  return join(tmp, `out-${++n}`);
}

function ok(r: BuildReport | { code: number | null; stderr: string }, what = 'gantry build'): void {
  assert.equal(r.code, 0, `${what} failed: ${r.stderr}`);
}

function read(root: string, path: string): Promise<string> {
  return readFile(join(root, path), 'utf8');
}

/** The step reports whose name contains `text`. */
function stepsNamed(r: BuildReport, text: string) {
  return r.steps.filter((s) => s.name.includes(text));
}

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'gantry-dfbuild-'));
  store = await busyboxStore(tmp);
});

after(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('instructions', () => {
  test('metadata instructions fill the config, and history is written as BuildKit writes it', async () => {
    const dir = await context({
      Dockerfile: `FROM busybox:1 AS meta
MAINTAINER Jane Doe <jane@example.com>
ENV A=1 B="two words"
ENV A=one
LABEL org.example.a=x "org.example.b"="y z"
WORKDIR /srv
WORKDIR app
USER nobody
WORKDIR owned
EXPOSE 80 53/udp 9000-9001
VOLUME /data
VOLUME ["/logs", "/cache"]
STOPSIGNAL SIGQUIT
HEALTHCHECK --interval=5s --timeout=2s --start-period=1s --start-interval=1s --retries=4 CMD ["/bin/true"]
SHELL ["/bin/sh", "-e", "-c"]
ONBUILD RUN echo onbuild-ran > /tmp/onbuild.txt
ONBUILD COPY from-child-context.txt /from-child-context.txt
CMD echo shell-form
ENTRYPOINT ["/bin/echo"]

FROM busybox:1 AS entrypoint-resets-inherited-cmd
ENTRYPOINT ["/bin/true"]

FROM busybox:1 AS cmd-base
CMD ["from-base-stage"]

FROM cmd-base AS cmd-from-another-stage
ENTRYPOINT ["/bin/false"]

FROM busybox:1 AS cmd-then-entrypoint
CMD ["keep"]
ENTRYPOINT ["/bin/echo"]
`,
    });
    const out = outDir();
    ok(await gantry(['build', '--target', 'meta', '-t', 'meta:1', '-o', `type=local,dest=${out}`, dir], { store }));
    const cfg = await rawConfig(store, 'meta:1');
    const c = cfg.config;
    assert.equal(cfg.author, 'Jane Doe <jane@example.com>');
    // A redefined ENV keeps its place; the base's PATH stays first.
    assert.deepEqual(c.Env, [
      'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      'A=one',
      'B=two words',
    ]);
    assert.deepEqual(c.Labels, { 'org.example.a': 'x', 'org.example.b': 'y z' });
    assert.equal(c.WorkingDir, '/srv/app/owned');
    assert.equal(c.User, 'nobody');
    assert.deepEqual(c.ExposedPorts, { '80/tcp': {}, '53/udp': {}, '9000/tcp': {}, '9001/tcp': {} });
    assert.deepEqual(c.Volumes, { '/data': {}, '/logs': {}, '/cache': {} });
    assert.equal(c.StopSignal, 'SIGQUIT');
    assert.deepEqual(c.Healthcheck, {
      Test: ['CMD', '/bin/true'],
      Interval: 5e9,
      Timeout: 2e9,
      StartPeriod: 1e9,
      StartInterval: 1e9,
      Retries: 4,
    });
    assert.deepEqual(c.Shell, ['/bin/sh', '-e', '-c']);
    assert.deepEqual(c.OnBuild, [
      'RUN echo onbuild-ran > /tmp/onbuild.txt',
      'COPY from-child-context.txt /from-child-context.txt',
    ]);
    // CMD in shell form goes through SHELL; ENTRYPOINT after CMD in the same stage keeps it.
    assert.deepEqual(c.Cmd, ['/bin/sh', '-e', '-c', 'echo shell-form']);
    assert.deepEqual(c.Entrypoint, ['/bin/echo']);

    // History: one entry per instruction (none for ONBUILD), layers only where files changed.
    const history = (cfg.history ?? []).slice(BASE_HISTORY);
    assert.deepEqual(
      history.map((h) => [h.created_by, h.empty_layer === true]),
      [
        ['MAINTAINER Jane Doe <jane@example.com>', true],
        ['ENV A=1 B=two words', true],
        ['ENV A=one', true],
        ['LABEL org.example.a=x org.example.b=y z', true],
        ['WORKDIR /srv', false],
        ['WORKDIR /srv/app', false],
        ['USER nobody', true],
        ['WORKDIR /srv/app/owned', false],
        ['EXPOSE [80/tcp 53/udp 9000/tcp 9001/tcp]', true],
        ['VOLUME [/data]', true],
        ['VOLUME [/logs /cache]', true],
        ['STOPSIGNAL SIGQUIT', true],
        ['HEALTHCHECK {Test:[CMD /bin/true] Interval:5s Timeout:2s StartPeriod:1s StartInterval:1s Retries:4}', true],
        ['SHELL [/bin/sh -e -c]', true],
        ['CMD ["/bin/sh" "-e" "-c" "echo shell-form"]', true],
        ['ENTRYPOINT ["/bin/echo"]', true],
      ],
    );
    for (const h of history) assert.equal(h.comment, 'buildkit.dockerfile.v0');
    assert.equal(cfg.rootfs.diff_ids.length, 1 + history.filter((h) => !h.empty_layer).length);

    // WORKDIR made its directories (owned by the USER of the moment); VOLUME made none.
    const srv = await stat(join(out, 'srv', 'app'));
    assert.ok(srv.isDirectory());
    assert.equal(srv.uid, 0);
    const owned = await stat(join(out, 'srv', 'app', 'owned'));
    assert.deepEqual([owned.uid, owned.gid, owned.mode & 0o777], [65534, 65534, 0o755]);
    for (const v of ['data', 'logs', 'cache']) {
      await assert.rejects(stat(join(out, v)), { code: 'ENOENT' }, `VOLUME /${v} must not create it`);
    }

    // The CMD reset rules: ENTRYPOINT clears a CMD that was not set in the same stage.
    ok(await gantry(['build', '--target', 'entrypoint-resets-inherited-cmd', '-t', 'ep1:1', dir], { store }));
    const ep1 = (await rawConfig(store, 'ep1:1')).config;
    assert.deepEqual(ep1.Entrypoint, ['/bin/true']);
    assert.equal(ep1.Cmd ?? undefined, undefined, 'the base image Cmd ["sh"] is reset');
    ok(await gantry(['build', '--target', 'cmd-from-another-stage', '-t', 'ep2:1', dir], { store }));
    const ep2 = (await rawConfig(store, 'ep2:1')).config;
    assert.deepEqual(ep2.Entrypoint, ['/bin/false']);
    assert.equal(ep2.Cmd ?? undefined, undefined, 'a CMD set in the base stage is reset too');
    ok(await gantry(['build', '--target', 'cmd-then-entrypoint', '-t', 'ep3:1', dir], { store }));
    const ep3 = (await rawConfig(store, 'ep3:1')).config;
    assert.deepEqual([ep3.Cmd, ep3.Entrypoint], [['keep'], ['/bin/echo']]);

    // ONBUILD triggers run first when the image is a base (COPY from the child's context), then are gone.
    const child = await context({
      Dockerfile: 'FROM meta:1\nUSER root\nRUN cat /tmp/onbuild.txt /from-child-context.txt > /both.txt\n',
      'from-child-context.txt': 'child context\n',
    });
    const childOut = outDir();
    const r = await buildJson(['-t', 'child:1', '-o', `type=local,dest=${childOut}`, child], { store });
    ok(r);
    assert.deepEqual(
      r.steps.map((s) => s.name),
      [
        '[stage-0] ONBUILD RUN echo onbuild-ran > /tmp/onbuild.txt',
        '[stage-0] ONBUILD COPY from-child-context.txt /from-child-context.txt',
        '[stage-0] RUN cat /tmp/onbuild.txt /from-child-context.txt > /both.txt',
      ],
    );
    assert.equal(await read(childOut, 'both.txt'), 'onbuild-ran\nchild context\n');
    assert.equal((await rawConfig(store, 'child:1')).config.OnBuild ?? undefined, undefined);
  });

  test('ARG: before FROM, per stage, --build-arg, predefined platform args, inherited by child stages', async () => {
    const dir = await context({
      Dockerfile: `ARG BASE=busybox
ARG TAG=latest
ARG GLOBAL=global-default
FROM \${BASE}:\${TAG} AS args
ARG GLOBAL
ARG LOCAL=local-default
ARG OVERRIDDEN=from-dockerfile
ARG TARGETOS
ARG TARGETARCH
ARG TARGETPLATFORM
ARG BUILDARCH
ARG BUILDPLATFORM
ENV FROM_ARG=\${LOCAL}-env
RUN echo "global=$GLOBAL local=$LOCAL overridden=$OVERRIDDEN target=$TARGETOS/$TARGETARCH platform=$TARGETPLATFORM build=$BUILDARCH/$BUILDPLATFORM tag=$TAG" > /args.txt

FROM args AS child
RUN echo "inherited=$LOCAL" > /child.txt
`,
    });
    const out = outDir();
    ok(
      await gantry(
        [
          'build',
          '--build-arg',
          'TAG=1',
          '--build-arg',
          'OVERRIDDEN=from-cli',
          '--build-arg',
          'UNDECLARED=ignored',
          '-t',
          'args:1',
          '-o',
          `type=local,dest=${out}`,
          dir,
        ],
        { store },
      ),
    );
    // TAG is global and not declared in the stage: empty there, though it chose the base (busybox:1).
    assert.equal(
      await read(out, 'args.txt'),
      `global=global-default local=local-default overridden=from-cli target=linux/${HOST_ARCH} platform=linux/${HOST_ARCH} build=${HOST_ARCH}/linux/${HOST_ARCH} tag=\n`,
    );
    assert.equal(await read(out, 'child.txt'), 'inherited=local-default\n');
    const cfg = await rawConfig(store, 'args:1');
    // ARG values reach RUN, not the image's Env.
    assert.deepEqual(cfg.config.Env, [
      'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      'FROM_ARG=local-default-env',
    ]);
    const runs = (cfg.history ?? []).map((h) => h.created_by ?? '').filter((t) => t.startsWith('RUN '));
    assert.match(
      runs[0] ?? '',
      new RegExp(
        `^RUN \\|8 GLOBAL=global-default LOCAL=local-default OVERRIDDEN=from-cli TARGETOS=linux TARGETARCH=${HOST_ARCH} TARGETPLATFORM=linux/${HOST_ARCH} BUILDARCH=${HOST_ARCH} BUILDPLATFORM=linux/${HOST_ARCH} /bin/sh -c echo `,
      ),
    );
    assert.ok((cfg.history ?? []).some((h) => h.created_by === 'ARG LOCAL=local-default' && h.empty_layer));
  });

  test('COPY: --chown names from /etc/passwd, --chmod, wildcards, directory contents, --from, --exclude, heredoc; ADD: archives and URLs', async () => {
    const body = 'served over http\n';
    const sha = createHash('sha256').update(body).digest('hex');
    const server: Server = createServer((req, res) => {
      if (req.url === '/files/remote.txt') res.end(body);
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/files/remote.txt`;
    try {
      const dir = await context({
        Dockerfile: `FROM busybox:1 AS builder
RUN mkdir -p /build/out && echo built > /build/out/artifact && echo also > /build/out/other

FROM busybox:1
RUN echo 'app:x:1000:1001::/home/app:/bin/sh' >> /etc/passwd && echo 'appgrp:x:1001:' >> /etc/group
COPY --chown=app:appgrp a.txt /owned/
COPY --chown=app b.txt /owned-user-only/
COPY --chown=4242:4343 a.txt /numeric/a.txt
COPY --chmod=0751 a.txt /modes/a.txt
COPY *.txt /wild/
COPY dir /dircontents/
COPY dir/sub /renamed-sub
COPY a.txt /newname
COPY foreign-owner.txt /default-owner.txt
COPY --exclude=*.log --exclude=dir/sub logs/ /excluded/
COPY --from=builder /build/out/ /from-stage/
COPY --from=busybox:1 /bin/busybox /from-image/busybox
COPY <<EOF /heredoc.txt
hello from a heredoc
EOF
ADD archive.tar.gz /gz/
ADD plain.tar /plain/
ADD not-an-archive.txt /added/
ADD ${url} /url/
ADD --checksum=sha256:${sha} ${url} /url-checked/remote.txt
`,
        'a.txt': 'alpha\n',
        'b.txt': 'bravo\n',
        'c.log': 'not a txt\n',
        'dir/x': 'x\n',
        'dir/sub/y': 'y\n',
        'foreign-owner.txt': 'owned by 1234 on the host\n',
        'logs/keep.txt': 'kept\n',
        'logs/drop.log': 'dropped\n',
        'logs/dir/sub/z': 'dropped too\n',
        'logs/dir/w': 'kept too\n',
        'not-an-archive.txt': 'plain text\n',
        'tarsrc/inner/deep.txt': 'deep\n',
      });
      await chown(join(dir, 'foreign-owner.txt'), 1234, 1234);
      await symlink('x', join(dir, 'dir', 'link'));
      await tool('tar', ['-czf', join(dir, 'archive.tar.gz'), '-C', join(dir, 'tarsrc'), '.']);
      await tool('tar', ['-cf', join(dir, 'plain.tar'), '-C', join(dir, 'tarsrc'), '.']);
      const out = outDir();
      ok(await gantry(['build', '-t', 'copies:1', '-o', `type=local,dest=${out}`, dir], { store }));

      const owner = async (p: string) => {
        const st = await stat(join(out, p));
        return [st.uid, st.gid, (st.mode & 0o7777).toString(8)];
      };
      assert.deepEqual(await owner('owned/a.txt'), [1000, 1001, '644']);
      assert.deepEqual(await owner('owned'), [1000, 1001, '755'], 'the directory COPY created is chowned too');
      assert.deepEqual(
        (await owner('owned-user-only/b.txt')).slice(0, 2),
        [1000, 1001],
        'a user alone: its primary group',
      );
      assert.deepEqual((await owner('numeric/a.txt')).slice(0, 2), [4242, 4343]);
      assert.deepEqual(await owner('modes/a.txt'), [0, 0, '751']);
      assert.deepEqual((await owner('default-owner.txt')).slice(0, 2), [0, 0], 'COPY defaults to root:root');
      assert.equal(await read(out, 'wild/a.txt'), 'alpha\n');
      assert.equal(await read(out, 'wild/b.txt'), 'bravo\n');
      await assert.rejects(stat(join(out, 'wild', 'c.log')), { code: 'ENOENT' });
      // A directory source copies its contents, not itself; links stay links.
      assert.equal(await read(out, 'dircontents/x'), 'x\n');
      assert.equal(await read(out, 'dircontents/sub/y'), 'y\n');
      assert.equal((await lstat(join(out, 'dircontents', 'link'))).isSymbolicLink(), true);
      assert.equal(await read(out, 'renamed-sub/y'), 'y\n');
      assert.equal(await read(out, 'newname'), 'alpha\n', 'no trailing slash: the file is named by dest');
      assert.equal(await read(out, 'excluded/keep.txt'), 'kept\n');
      assert.equal(await read(out, 'excluded/dir/w'), 'kept too\n');
      await assert.rejects(stat(join(out, 'excluded', 'drop.log')), { code: 'ENOENT' });
      await assert.rejects(stat(join(out, 'excluded', 'dir', 'sub')), { code: 'ENOENT' });
      assert.equal(await read(out, 'from-stage/artifact'), 'built\n');
      assert.equal(await read(out, 'from-stage/other'), 'also\n');
      assert.equal((await stat(join(out, 'from-image', 'busybox'))).mode & 0o111, 0o111);
      assert.equal(await read(out, 'heredoc.txt'), 'hello from a heredoc\n');
      assert.equal(await read(out, 'gz/inner/deep.txt'), 'deep\n', 'a local .tar.gz is unpacked');
      assert.equal(await read(out, 'plain/inner/deep.txt'), 'deep\n', 'a local tar is unpacked');
      assert.equal(await read(out, 'added/not-an-archive.txt'), 'plain text\n');
      assert.equal(await read(out, 'url/remote.txt'), body, 'a URL is downloaded, named by its path');
      assert.equal(await read(out, 'url-checked/remote.txt'), body);

      // A wrong --checksum fails the build, names both digests, and names nothing in the store.
      const bad = await context({
        Dockerfile: `FROM busybox:1\nADD --checksum=sha256:${'0'.repeat(64)} ${url} /x\n`,
      });
      const r = await gantry(['build', '-t', 'badsum:1', bad], { store });
      assert.notEqual(r.code, 0);
      assert.match(lastLine(r.stderr), new RegExp(`checksum mismatch: expected sha256:0{64}, got sha256:${sha}`));
      assert.equal(await storeHas(store, 'badsum'), false);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  test('.dockerignore: patterns, ** and ! exceptions decide what COPY sees', async () => {
    const dir = await context({
      Dockerfile: 'FROM busybox:1\nCOPY . /ctx/\n',
      '.dockerignore': '*.log\n**/secret*\nbuild\n!build/keep.txt\n',
      'app.js': 'app\n',
      'debug.log': 'log\n',
      'nested/deep/secret.key': 'key\n',
      'nested/deep/public.txt': 'public\n',
      'build/drop.o': 'obj\n',
      'build/keep.txt': 'keep\n',
    });
    const out = outDir();
    ok(await gantry(['build', '-o', `type=local,dest=${out}`, dir], { store }));
    assert.equal(await read(out, 'ctx/app.js'), 'app\n');
    assert.equal(await read(out, 'ctx/nested/deep/public.txt'), 'public\n');
    assert.equal(await read(out, 'ctx/build/keep.txt'), 'keep\n');
    for (const gone of ['debug.log', 'nested/deep/secret.key', 'build/drop.o']) {
      await assert.rejects(stat(join(out, 'ctx', gone)), { code: 'ENOENT' }, gone);
    }
  });

  test('RUN: shell and exec forms, SHELL, heredocs, --network=none', async () => {
    const dir = await context({
      Dockerfile: `FROM busybox:1
RUN echo "shell form $((1 + 2))" > /shell.txt
RUN ["/bin/sh", "-c", "echo exec form > /exec.txt"]
RUN ["echo", "$HOME is not expanded in exec form"]
RUN cat /proc/net/dev > /net-default.txt
RUN --network=none cat /proc/net/dev > /net-none.txt
RUN <<EOF
echo heredoc line 1 > /heredoc.txt
echo heredoc line 2 >> /heredoc.txt
EOF
RUN <<EOF
#!/bin/sh
echo "script as $0" > /script.txt
EOF
SHELL ["/bin/sh", "-c", "echo \\"shell got: $1\\" > /shell-arg.txt; eval \\"$1\\"", "shell-wrapper"]
RUN echo through the new shell > /via-shell.txt
`,
    });
    const out = outDir();
    const r = await buildJson(['-o', `type=local,dest=${out}`, dir], { store });
    ok(r);
    assert.equal(await read(out, 'shell.txt'), 'shell form 3\n');
    assert.equal(await read(out, 'exec.txt'), 'exec form\n');
    assert.deepEqual(stepsNamed(r, 'not expanded')[0]?.logs, ['$HOME is not expanded in exec form']);
    assert.equal(await read(out, 'heredoc.txt'), 'heredoc line 1\nheredoc line 2\n');
    assert.match(await read(out, 'script.txt'), /^script as \/dev\/pipes\/EOF\n$/);
    assert.equal(await read(out, 'shell-arg.txt'), 'shell got: echo through the new shell > /via-shell.txt\n');
    assert.equal(await read(out, 'via-shell.txt'), 'through the new shell\n');
    const interfaces = (text: string) =>
      text
        .split('\n')
        .slice(2)
        .map((l) => l.split(':')[0]?.trim())
        .filter((x): x is string => Boolean(x))
        .sort();
    assert.deepEqual(interfaces(await read(out, 'net-none.txt')), ['lo'], '--network=none leaves only lo');
    const host = interfaces(await readFile('/proc/net/dev', 'utf8'));
    if (host.some((i) => i !== 'lo')) {
      assert.ok(
        interfaces(await read(out, 'net-default.txt')).some((i) => i !== 'lo'),
        'the default network is the host network',
      );
    }
  });
});

describe('build graph and cache', () => {
  test('multi-stage: COPY --from, an unused stage is never built, --target builds only what it needs', async () => {
    const dir = await context({
      Dockerfile: `FROM busybox:1 AS deps
RUN echo deps > /deps.txt

FROM busybox:1 AS unused
RUN echo this-stage-is-not-needed > /unused.txt

FROM deps AS builder
RUN cat /deps.txt > /built.txt && echo built >> /built.txt

FROM busybox:1 AS tools
RUN echo tool > /tool.txt

FROM busybox:1
COPY --from=builder /built.txt /app/built.txt
COPY --from=tools /tool.txt /app/tool.txt
`,
    });
    const out = outDir();
    const r = await buildJson(['-t', 'multi:1', '-o', `type=local,dest=${out}`, dir], { store });
    ok(r);
    assert.equal(await read(out, 'app/built.txt'), 'deps\nbuilt\n');
    assert.equal(await read(out, 'app/tool.txt'), 'tool\n');
    await assert.rejects(stat(join(out, 'deps.txt')), { code: 'ENOENT' });
    const names = r.events.filter((e) => e.type === 'start').map((e) => e.name ?? '');
    assert.ok(
      names.every((name) => !name.includes('[unused]') && !name.includes('this-stage-is-not-needed')),
      names.join('\n'),
    );
    assert.equal(stepsNamed(r, '[builder] RUN').length, 1);

    // --target builder: deps and builder only, and the image is builder's.
    const t = await buildJson(['--target', 'builder', '-t', 'multi:builder', dir], { store });
    ok(t);
    assert.deepEqual(t.steps.map((s) => s.name.split(']')[0]).sort(), ['[builder', '[deps']);
    const cfg = await rawConfig(store, 'multi:builder');
    assert.ok((cfg.history ?? []).some((h) => (h.created_by ?? '').includes('/built.txt')));
    assert.ok(!(cfg.history ?? []).some((h) => (h.created_by ?? '').includes('/app/')));
  });

  test('cache: a no-change rebuild is all CACHED; one changed file rebuilds its step and what follows', async () => {
    const dir = await context({
      Dockerfile: `FROM busybox:1
COPY one.txt /one.txt
RUN cat /one.txt > /copy-of-one
COPY two.txt /two.txt
RUN cat /two.txt > /copy-of-two
ENV DONE=1
RUN echo last > /last
`,
      'one.txt': 'one\n',
      'two.txt': 'two\n',
      'unrelated.md': 'not copied\n',
    });
    const build = async (...extra: string[]) => {
      const r = await buildJson(['-t', 'cache:1', ...extra, dir], { store });
      ok(r);
      assert.equal(r.steps.length, 5, r.steps.map((s) => s.name).join('\n'));
      return r.steps.map((s) => s.cached);
    };
    assert.deepEqual(await build(), [false, false, false, false, false]);
    assert.deepEqual(await build(), [true, true, true, true, true], 'no change: all cached');
    // New mtimes and files nothing copies change nothing: keys hold content digests.
    const later = new Date(Date.now() + 60_000);
    await utimes(join(dir, 'one.txt'), later, later);
    await writeFile(join(dir, 'unrelated.md'), 'edited\n');
    assert.deepEqual(await build(), [true, true, true, true, true], 'mtime and unrelated edits');
    await writeFile(join(dir, 'two.txt'), 'two, edited\n');
    assert.deepEqual(await build(), [true, true, false, false, false], 'two.txt changed');
    assert.deepEqual(await build('--no-cache'), [false, false, false, false, false], '--no-cache');
  });

  test('parser and lint warnings reach the user: a JSON event, a WARNING line in plain', async () => {
    const dir = await context({
      Dockerfile: 'FROM busybox:1 AS Base\nMAINTAINER me\nCMD echo hi\n',
    });
    const r = await buildJson(['-t', 'warn:1', dir], { store });
    ok(r);
    assert.deepEqual(
      r.events.filter((e) => e.type === 'warning').map((e) => e.message),
      [
        "StageNameCasing: Stage name 'Base' should be lowercase (line 1)",
        'MaintainerDeprecated: Maintainer instruction is deprecated in favor of using label (line 2)',
        'JSONArgsRecommended: JSON arguments recommended for CMD to prevent unintended behavior related to OS signals (line 3)',
      ],
    );
    const plain = await gantry(['build', '--progress=plain', dir], { store });
    ok(plain);
    assert.ok(
      plain.stderr.split('\n').includes("WARNING: StageNameCasing: Stage name 'Base' should be lowercase (line 1)"),
      plain.stderr,
    );
  });

  test('two stages with the same steps run them once (one vertex, as BuildKit merges them)', async () => {
    const dir = await context({
      Dockerfile: `FROM busybox:1 AS a
RUN echo same-$RANDOM > /x

FROM busybox:1 AS b
RUN echo same-$RANDOM > /x

FROM busybox:1
COPY --from=a /x /a
COPY --from=b /x /b
`,
    });
    const out = outDir();
    const r = await buildJson(['--no-cache', '-o', `type=local,dest=${out}`, dir], { store });
    ok(r);
    assert.equal(stepsNamed(r, 'RUN echo').length, 1, r.steps.map((s) => s.name).join('\n'));
    // One run: both stages hold the same random output.
    assert.equal(await read(out, 'a'), await read(out, 'b'));
  });

  test('--no-cache-filter runs the steps of the named stage again, and only those', async () => {
    const dir = await context({
      Dockerfile: `FROM busybox:1 AS a
RUN echo a > /a.txt

FROM busybox:1 AS b
RUN echo b > /b.txt

FROM busybox:1
COPY --from=a /a.txt /a.txt
COPY --from=b /b.txt /b.txt
`,
    });
    ok(await buildJson(['-t', 'filter:1', dir], { store }));
    const r = await buildJson(['-t', 'filter:1', '--no-cache-filter', 'a', dir], { store });
    ok(r);
    assert.deepEqual(
      stepsNamed(r, '[a] ').map((s) => s.cached),
      [false],
    );
    assert.deepEqual(
      stepsNamed(r, '[b] ').map((s) => s.cached),
      [true],
    );
  });

  test('a linux/arm64 stage runs its RUN steps through qemu-user', async (t) => {
    const arm = { os: 'linux', architecture: 'arm64' } as const;
    try {
      await checkPlatform(arm);
    } catch (err) {
      if (!GantryError.is(err) || !err.code.startsWith('BINFMT_')) throw err;
      // Registered but off (or not registered): enable it as the test machine's setup would.
      await runTool('update-binfmts', ['--enable', 'qemu-aarch64'], { allowFailure: true }).catch(() => undefined);
      try {
        await checkPlatform(arm);
      } catch (again) {
        t.skip(`qemu-aarch64 cannot be enabled here: ${GantryError.is(again) ? again.oneLine() : String(again)}`);
        return;
      }
    }
    const dir = await context({
      Dockerfile: `FROM --platform=linux/arm64 busybox:1 AS arm
ARG TARGETARCH
RUN uname -m > /machine.txt && echo "$TARGETARCH" >> /machine.txt

FROM busybox:1
COPY --from=arm /machine.txt /arm-machine.txt
RUN uname -m > /host-machine.txt
`,
    });
    const out = outDir();
    ok(await gantry(['build', '-o', `type=local,dest=${out}`, dir], { store }));
    assert.equal(await read(out, 'arm-machine.txt'), `aarch64\n${HOST_ARCH}\n`);
    // Building the whole image for linux/arm64 picks the fixture's arm64 image and runs arm64 code.
    const whole = await context({ Dockerfile: 'FROM busybox:1\nRUN uname -m > /machine.txt\n' });
    const armOut = outDir();
    ok(
      await gantry(['build', '--platform', 'linux/arm64', '-t', 'arm:1', '-o', `type=local,dest=${armOut}`, whole], {
        store,
      }),
    );
    assert.equal(await read(armOut, 'machine.txt'), 'aarch64\n');
    assert.equal((await rawConfig(store, 'arm:1')).architecture, 'arm64');
  });
});

describe('bad input: one line, non-zero exit, nothing named in the store', () => {
  /** Builds `dockerfile` as bad:N and checks the failure's shape; returns the error line. */
  async function fails(dockerfile: string, extra: readonly string[] = [], files: Record<string, string> = {}) {
    const repo = `bad${++n}`;
    const dir = await context({ Dockerfile: dockerfile, ...files });
    const r = await gantry(['build', '-t', `${repo}:1`, ...extra, dir], { store });
    assert.notEqual(r.code, 0, `the build should fail: ${r.stderr}`);
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('gantry: error:'));
    assert.equal(errors.length, 1, r.stderr);
    assert.equal(lastLine(r.stderr), errors[0], 'the error is the last thing printed');
    assert.equal(await storeHas(store, repo), false, `${repo} must not be named in the store`);
    return errors[0] as string;
  }

  test('a syntax error names the line and the column', async () => {
    const line = await fails('FROM busybox:1\nRUN cat <<EOF\nno terminator\n');
    assert.match(line, /Dockerfile:2:9: unterminated heredoc "EOF"/);
  });

  test('an unknown instruction names itself and its line', async () => {
    const line = await fails('FROM busybox:1\nRUN true\nCOPPY a b\n');
    assert.match(line, /Dockerfile:3:1: unknown instruction "COPPY".*did you mean COPY\?/);
  });

  test('an unknown stage in --from and in --target', async () => {
    const from = await fails('FROM busybox:1 AS builder\nRUN true\nFROM busybox:1\nCOPY --from=bulider /x /y\n');
    assert.match(from, /COPY --from=bulider: no stage is named "bulider"/);
    assert.match(from, /did you mean --from=builder\?/);
    const target = await fails('FROM busybox:1 AS one\nFROM busybox:1 AS two\n', ['--target', 'three']);
    assert.match(target, /target stage "three" not found: stages: one, two/);
  });

  test('a missing COPY source is named relative to the context', async () => {
    const line = await fails('FROM busybox:1\nCOPY present.txt missing/file.txt /dst/\n', [], { 'present.txt': 'x' });
    assert.match(line, /COPY source "missing\/file\.txt" not found in the build context/);
  });

  test('a failing RUN reports its exit code and its last output lines', async () => {
    const line = await fails(
      'FROM busybox:1\nRUN echo first; echo second; echo to-stderr >&2; exit 7\nRUN echo never\n',
    );
    assert.match(line, /exit code: 7/);
    assert.match(line, /second/);
    assert.match(line, /to-stderr/);
  });

  test('an unresolvable base image names the image', async () => {
    const port = await freePort(); // nothing listens there
    const line = await fails(`FROM 127.0.0.1:${port}/nothing/here:1\nRUN true\n`);
    assert.match(line, new RegExp(`FROM 127\\.0\\.0\\.1:${port}/nothing/here:1: `));
  });

  test('an invalid platform is refused before any work', async () => {
    const flag = await fails('FROM busybox:1\nRUN true\n', ['--platform', 'linux/amd64/v8/extra']);
    assert.match(flag, /invalid platform "linux\/amd64\/v8\/extra"/);
    const from = await fails('FROM --platform=not/a/valid/platform busybox:1\nRUN true\n');
    assert.match(from, /platform/);
  });
});
