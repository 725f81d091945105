// Differential: the same Dockerfiles built by gantry and by buildah (`bud --isolation chroot`) on
// the same base, pulled from a loopback registry, must give the same file tree (names, types,
// modes, owners, sizes, content digests, link targets; times aside) and the same config (Env,
// Cmd, Entrypoint, WorkingDir, User, ExposedPorts, Labels, Volumes, StopSignal, Healthcheck).
// Both trees are unpacked by the same independent tool (umoci raw unpack), so neither builder's
// own extraction code is trusted. buildah's side of a case (its config and its unpacked tree) is
// deterministic for a given case, base and buildah version, and costs most of the time (a bud,
// an inspect, a push and an unpack per case): it is kept in the fixtures dir under a key of those,
// so a later run builds with gantry only and compares with what buildah built for the same input
// (a changed case, base or buildah runs buildah again).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildInPlace, busyboxImage, fixturesDir } from '../harness/fixtures.js';
import { startRegistry, type TestRegistry } from '../harness/registry.js';
import {
  type ContainerConfigJson,
  gantry,
  ownedArchive,
  rawConfig,
  readTree,
  run,
  type TreeEntry,
  tool,
  writeTree,
} from './helpers.js';

interface Case {
  readonly name: string;
  /** The Dockerfile; `REG` is replaced by the registry's host:port. */
  readonly dockerfile: string;
  readonly files?: Readonly<Record<string, string | { readonly content: string; readonly mode: number }>>;
  /** Extra setup of the context directory (symlinks, archives). */
  readonly setup?: (context: string) => Promise<void>;
}

const CASES: readonly Case[] = [
  {
    name: 'metadata',
    dockerfile: `FROM REG/busybox:1
ENV APP_HOME=/srv/app GREETING="hello world"
LABEL org.example.name="diff test" org.example.n=1
WORKDIR $APP_HOME
USER nobody
EXPOSE 8080 53/udp 9000-9002
VOLUME ["/data", "/logs"]
STOPSIGNAL SIGINT
HEALTHCHECK --interval=30s --timeout=3s --start-period=5s --retries=2 CMD wget -q -O- http://localhost:8080/ || exit 1
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["echo $GREETING"]
`,
  },
  {
    name: 'copy',
    dockerfile: `FROM REG/busybox:1
RUN echo 'app:x:1000:1000::/home/app:/bin/sh' >> /etc/passwd && echo 'app:x:1000:' >> /etc/group
COPY a.txt /files/
COPY a.txt /files/renamed.txt
COPY *.txt /wild/
COPY dir /dircontents/
COPY dir/sub /onlysub
COPY --chown=app:app a.txt /owned/
COPY --chown=1234:5678 dir /numeric/
COPY --chmod=0640 b.txt /modes/
COPY exec.sh /usr/local/bin/
ADD archive.tar.gz /unpacked/
ADD plain.txt /added/
`,
    files: {
      'a.txt': 'alpha\n',
      'b.txt': { content: 'bravo\n', mode: 0o600 },
      'plain.txt': 'not an archive\n',
      'dir/x': 'x\n',
      'dir/sub/y': 'y\n',
      'exec.sh': { content: '#!/bin/sh\necho exec\n', mode: 0o755 },
      'archive-src/top.txt': 'top\n',
      'archive-src/nested/deep.txt': { content: 'deep\n', mode: 0o640 },
    },
    setup: async (context) => {
      await symlink('x', join(context, 'dir', 'link'));
      await tool('tar', ['-czf', join(context, 'archive.tar.gz'), '-C', join(context, 'archive-src'), '.']);
    },
  },
  {
    name: 'run',
    dockerfile: `FROM REG/busybox:1
RUN mkdir -p /opt/tool/bin && echo 'echo tool' > /opt/tool/bin/tool && chmod 0750 /opt/tool/bin/tool
RUN ["/bin/sh", "-c", "ln -s /opt/tool/bin/tool /usr/bin/tool"]
RUN rm /etc/group && rm -r /home && echo gone > /tmp/marker
RUN chown 65534:65534 /tmp/marker && chmod 4755 /opt/tool/bin/tool && ln /opt/tool/bin/tool /opt/tool/hard
SHELL ["/bin/sh", "-e", "-c"]
RUN touch /shell-ok && printf 'a\\nb\\n' > /lines
`,
  },
  {
    name: 'multi-stage',
    dockerfile: `FROM REG/busybox:1 AS builder
WORKDIR /src
COPY src/ .
RUN cat *.txt > /out.txt && mkdir -p /dist && cp /out.txt /dist/all.txt

FROM REG/busybox:1 AS unused
RUN echo never > /never

FROM builder AS tested
RUN test -s /dist/all.txt

FROM REG/busybox:1
COPY --from=builder /dist/ /app/
COPY --from=builder /src/one.txt /app/one.txt
COPY --from=tested /dist/all.txt /app/tested.txt
WORKDIR /app
CMD ["cat", "/app/all.txt"]
`,
    files: { 'src/one.txt': '1\n', 'src/two.txt': '2\n' },
  },
  {
    name: 'user-workdir',
    dockerfile: `FROM REG/busybox:1
RUN echo 'app:x:1000:1000:App:/home/app:/bin/sh' >> /etc/passwd && echo 'app:x:1000:' >> /etc/group
WORKDIR /app
USER app
WORKDIR /app/data/deep
RUN id -u > uid && id -g > gid && touch created-by-app
USER 0:0
WORKDIR relative
RUN id -u > uid
USER app:app
`,
  },
  {
    name: 'args-env',
    dockerfile: `ARG BASE=REG/busybox:1
FROM $BASE
ARG DEST=/dest
ARG FLAVOR
ENV HOME_DIR=/home/x FLAVOR=\${FLAVOR:-plain}
COPY a.txt \${DEST}/a.txt
RUN echo "$DEST $HOME_DIR $FLAVOR" > /vars
ENV PATH=/opt/bin:$PATH
`,
    files: { 'a.txt': 'alpha\n' },
  },
  // Issue 15: one Dockerfile per difference that buildah's conformance suite found.
  {
    name: 'add-archive-owners',
    dockerfile: `FROM REG/busybox:1
ADD sub/subdirectory.tar.gz /sub/
ADD sub/subdirectory.tar.gz /tmp/
`,
    setup: async (context) => {
      await mkdir(join(context, 'sub'));
      await ownedArchive(join(context, 'sub', 'subdirectory.tar.gz'));
    },
  },
  {
    name: 'copy-from-owner',
    dockerfile: `FROM REG/busybox:1
RUN touch /test && chown 65:65 /test && mkdir -p /d/e && chown 65:66 /d /d/e && touch /d/e/f && chown 67:68 /d/e/f

FROM REG/busybox:1
USER 66:66
COPY --from=0 /test /test
COPY --from=0 /d /d
COPY --from=0 --chown=1:1 /test /chowned
`,
  },
  {
    name: 'copy-chown-existing',
    dockerfile: `FROM REG/busybox:1
RUN echo 'app:x:1000:1000::/home/app:/bin/sh' >> /etc/passwd && echo 'app:x:1000:' >> /etc/group
COPY subdir/ subdir/
COPY --chown=99:99 subdir/ subdir/
COPY --chown=99:99 subdir/ reversed/
COPY subdir/ reversed/
COPY --chown=app:app f /etc/app/f
COPY --chown=5:5 f /tmp/f
COPY g.txt /tmp
`,
    files: { 'subdir/file': 'f\n', 'subdir/inner/g': 'g\n', f: 'config\n', 'g.txt': 'g\n' },
  },
  {
    name: 'add-through-symlink',
    dockerfile: `FROM REG/busybox:1
RUN ln -s symlink-target /symlink && mkdir /real && ln -s /real /abs
ADD . /symlink/subdirectory/
COPY a.txt /abs/
`,
    files: { 'a.txt': 'alpha\n', 'dir/b.txt': 'bravo\n' },
  },
  {
    name: 'workdir-unknown-user',
    dockerfile: `FROM REG/busybox:1
USER daemon
WORKDIR /tmp/
WORKDIR /work/dir/
`,
  },
  {
    name: 'run-home',
    dockerfile: `FROM REG/busybox:1
RUN echo "$HOME" > /tmp/home-root
USER nobody
RUN echo "$HOME" > /tmp/home-nobody
USER 4242
RUN echo "$HOME" > /tmp/home-4242
ENV HOME=/custom
RUN echo "$HOME" > /tmp/home-env
`,
  },
  // Issue 9: RUN after USER gets the image's supplementary groups, the primary gid first.
  {
    name: 'run-id-groups',
    dockerfile: `FROM REG/busybox:1
RUN echo 'app:x:1000:1000:App:/home/app:/bin/sh' >> /etc/passwd && printf 'app:x:1000:\\nextra:x:2000:app\\ngrp:x:3000:\\n' >> /etc/group && mkdir -m 1777 /ids
RUN id > /ids/root
USER app
RUN id > /ids/app
USER app:grp
RUN id > /ids/app-grp
USER 1000:3000
RUN id > /ids/numeric
USER nobody
RUN id > /ids/nobody
`,
  },
  // Issue 9: instruction flags in a file with the backtick escape (continuations, quotes).
  {
    name: 'escape-flags',
    dockerfile: `# escape=\`
FROM REG/busybox:1
RUN echo 'app:x:1000:1000::/home/app:/bin/sh' >> /etc/passwd && echo 'app:x:1000:' >> /etc/group
COPY --chown=app:app \`
     --chmod=0640 a.txt /dest/
COPY --chown="1000:1000" a.txt /quoted/
COPY --chmod=0755 \`
     a.txt /exec/
RUN echo C:\\path > /win
`,
    files: { 'a.txt': 'alpha\n' },
  },
];

/** `9000-9002/tcp` as BuildKit stores it: one entry per port (buildah keeps the range as one key). */
function expandPorts(ports: Record<string, object> | undefined): Record<string, object> | undefined {
  if (!ports) return ports;
  const out: Record<string, object> = {};
  for (const key of Object.keys(ports)) {
    const m = /^(\d+)-(\d+)\/(\w+)$/.exec(key);
    if (!m) out[key] = {};
    else for (let p = Number(m[1]); p <= Number(m[2]); p++) out[`${p}/${m[3]}`] = {};
  }
  return out;
}

/**
 * The config fields the test compares, normalized where the builders legitimately differ: empty
 * is absent; buildah's own version label is dropped; Env is compared as a set, because buildah
 * moves a redefined variable to the end while BuildKit (and gantry) replace it in place;
 * exposed port ranges are expanded as BuildKit does.
 */
function comparable(c: ContainerConfigJson): Record<string, unknown> {
  const empty = (v: unknown) =>
    v === null || v === undefined || v === '' || (typeof v === 'object' && Object.keys(v as object).length === 0);
  // buildah stamps its version as a label; BuildKit and gantry do not (a legitimate difference).
  const labels = { ...(c.Labels ?? {}) };
  delete labels['io.buildah.version'];
  // Durations left at zero mean "default"; buildah omits them, so absent and 0 are the same.
  const health = c.Healthcheck
    ? Object.fromEntries(Object.entries(c.Healthcheck).filter(([, v]) => !(v === 0 || empty(v))))
    : undefined;
  const out: Record<string, unknown> = {
    Env: c.Env ? [...c.Env].sort() : undefined,
    Cmd: c.Cmd,
    Entrypoint: c.Entrypoint,
    WorkingDir: c.WorkingDir,
    User: c.User,
    ExposedPorts: expandPorts(c.ExposedPorts),
    Labels: labels,
    Volumes: c.Volumes,
    StopSignal: c.StopSignal,
    Healthcheck: health,
  };
  for (const [k, v] of Object.entries(out)) if (empty(v)) delete out[k];
  return out;
}

function describeEntry(e: TreeEntry | undefined): string {
  if (!e) return 'absent';
  return JSON.stringify(e);
}

/**
 * What buildah's chroot isolation leaves in the layer of a RUN step: empty mount points for the
 * bind mounts it sets up. BuildKit removes such stubs (and gantry never writes them), so they are
 * dropped from buildah's tree when gantry's has no such path.
 */
const BUILDAH_RUN_STUBS: Readonly<Record<string, TreeEntry['type']>> = {
  dev: 'dir',
  proc: 'dir',
  sys: 'dir',
  run: 'dir',
  'etc/hostname': 'file',
  'etc/hosts': 'file',
  'etc/resolv.conf': 'file',
};

function dropRunStubs(buildahTree: Map<string, TreeEntry>, gantryTree: Map<string, TreeEntry>): void {
  for (const [path, type] of Object.entries(BUILDAH_RUN_STUBS)) {
    const e = buildahTree.get(path);
    if (!e || e.type !== type || gantryTree.has(path)) continue;
    const emptyDir = type === 'dir' && ![...buildahTree.keys()].some((p) => p.startsWith(`${path}/`));
    if (emptyDir || (type === 'file' && e.size === 0)) buildahTree.delete(path);
  }
}

/** Every path where the two trees differ, with both sides. */
function treeDiff(gantryTree: Map<string, TreeEntry>, buildahTree: Map<string, TreeEntry>): string[] {
  dropRunStubs(buildahTree, gantryTree);
  const out: string[] = [];
  for (const path of new Set([...gantryTree.keys(), ...buildahTree.keys()])) {
    const a = gantryTree.get(path);
    const b = buildahTree.get(path);
    if (JSON.stringify(a) !== JSON.stringify(b))
      out.push(`${path}: gantry ${describeEntry(a)} buildah ${describeEntry(b)}`);
  }
  return out.sort();
}

/** Bump when what a kept buildah result holds changes. */
const PEER_RECIPE = 2;

/** What buildah built for a case: its Docker config as `buildah inspect` gives it, and its tree. */
interface PeerResult {
  readonly config: ContainerConfigJson;
  readonly tree: readonly (readonly [string, TreeEntry])[];
}

/** The key of buildah's result for a case: everything that decides what buildah builds. */
function peerKey(c: Case, baseDigest: string, buildahVersion: string): string {
  const files = Object.entries(c.files ?? {}).map(([k, v]) => [k, typeof v === 'string' ? v : [v.content, v.mode]]);
  return createHash('sha256')
    .update(
      JSON.stringify([
        `differential-peer=${PEER_RECIPE}`,
        buildahVersion,
        baseDigest,
        c.name,
        c.dockerfile,
        files,
        c.setup?.toString() ?? '',
        c.setup ? ownedArchive.toString() : '',
      ]),
    )
    .digest('hex')
    .slice(0, 16);
}

describe('gantry and buildah build the same images', { timeout: 600_000 }, () => {
  let registry: TestRegistry;
  let work: string;
  let baseDigest: string;
  let buildahVersion: string;
  const buildahRoot = () => [
    '--storage-driver',
    'vfs',
    '--root',
    join(work, 'buildah-root'),
    '--runroot',
    join(work, 'buildah-runroot'),
  ];

  before(async () => {
    registry = await startRegistry({ mode: 'http' });
    const fixture = await busyboxImage();
    baseDigest = fixture.indexDigest;
    buildahVersion = (await tool('buildah', ['--version'])).trim();
    await tool('skopeo', [
      'copy',
      '--all',
      '--dest-tls-verify=false',
      `oci:${fixture.layoutDir}:busybox`,
      `docker://${registry.host}/busybox:1`,
    ]);
    // One temp dir for the whole suite: buildah pulls the base once into its vfs store.
    work = await mkdtemp(join(tmpdir(), 'gantry-diff-'));
  });

  after(async () => {
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  /** buildah's result for the case: kept from an earlier run, else built (the base pulled once per run). */
  async function buildahResult(c: Case, dockerfile: string, context: string, tag: string): Promise<PeerResult> {
    const kept = join(fixturesDir(), 'differential-buildah', `${peerKey(c, baseDigest, buildahVersion)}.json`);
    if (existsSync(kept)) return JSON.parse(await readFile(kept, 'utf8')) as PeerResult;
    const b = await run('buildah', [
      ...buildahRoot(),
      'bud',
      '--isolation',
      'chroot',
      // docker format keeps HEALTHCHECK and STOPSIGNAL-style Docker fields in the config.
      '--format',
      'docker',
      '--tls-verify=false',
      '-f',
      dockerfile,
      '-t',
      `localhost/${tag}`,
      context,
    ]);
    assert.equal(b.code, 0, `buildah bud: ${b.stderr}\n${b.stdout}`);
    const inspected = JSON.parse(
      await tool('buildah', [...buildahRoot(), 'inspect', '--type', 'image', `localhost/${tag}`]),
    ) as { Docker: { config: ContainerConfigJson } };
    const layout = join(work, c.name, 'buildah-layout');
    await tool('buildah', [...buildahRoot(), 'push', `localhost/${tag}`, `oci:${layout}:img`]);
    const buildahRootfs = join(work, c.name, 'buildah-rootfs');
    await tool('umoci', ['raw', 'unpack', '--image', `${layout}:img`, buildahRootfs]);
    const result: PeerResult = { config: inspected.Docker.config, tree: [...(await readTree(buildahRootfs))] };
    await buildInPlace(kept, async (tmp) => {
      await writeFile(join(tmp, 'result.json'), JSON.stringify(result));
      return join(tmp, 'result.json');
    });
    return result;
  }

  for (const c of CASES) {
    test(c.name, async () => {
      const context = join(work, c.name, 'context');
      await mkdir(context, { recursive: true });
      await writeTree(context, c.files ?? {});
      // Beside the context, not in it: it names the registry's port, which changes every run, and
      // a case that copies the whole context would otherwise put that in the (kept) peer's tree.
      const dockerfile = join(work, c.name, 'Dockerfile');
      await writeFile(dockerfile, c.dockerfile.replaceAll('REG', registry.host));
      await c.setup?.(context);
      const store = join(work, 'store');
      const tag = `diff-${c.name}:1`;

      const g = await gantry(['build', '-f', dockerfile, '-t', tag, context], { store });
      assert.equal(g.code, 0, `gantry build: ${g.stderr}`);
      const peer = await buildahResult(c, dockerfile, context, tag);

      // Configs: gantry's as written in the store; buildah's Docker config as it stored it.
      const gantryConfig = (await rawConfig(store, tag)).config;
      assert.deepEqual(comparable(gantryConfig), comparable(peer.config), 'config');

      // Trees: both images unpacked by umoci from OCI layouts.
      const gantryRoot = join(work, c.name, 'gantry-rootfs');
      await tool('umoci', ['raw', 'unpack', '--image', `${store}:docker.io/library/${tag}`, gantryRoot]);
      const diff = treeDiff(await readTree(gantryRoot), new Map(peer.tree));
      assert.deepEqual(diff, [], `file trees differ:\n${diff.join('\n')}`);
    });
  }
});
