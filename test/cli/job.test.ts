// Kubernetes Job mode (issue 12 item 5): contexts from a tar.gz URL, git and stdin; JSON logs; the
// termination log; exit codes by class; a mounted .dockerconfigjson; unprivileged pods.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, openSync } from 'node:fs';
import { chmod, copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { busyboxImage } from '../harness/fixtures.js';
import { startGitHttpServer } from '../harness/git-server.js';
import { startRegistry } from '../harness/registry.js';
import { runUnprivileged } from '../harness/unprivileged.js';
import { gantry, gantryBin, isolatedHome, type Result, run, tool, withTempDir } from './helpers.js';

const EPOCH = { SOURCE_DATE_EPOCH: '1700000000' };

/** gantry with stdin read from a file (a binary tar). */
function gantryWithStdinFile(args: readonly string[], file: string, env: NodeJS.ProcessEnv): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [gantryBin, ...args], {
      env: { ...process.env, ...env },
      stdio: [openSync(file, 'r'), 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr?.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function makeContext(dir: string, dockerfile: string, files: Record<string, string>): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'Dockerfile'), dockerfile);
  for (const [name, content] of Object.entries(files)) {
    await mkdir(join(dir, name, '..'), { recursive: true });
    await writeFile(join(dir, name), content);
  }
}

test('a context from a tar.gz URL, from stdin and from git builds what the directory builds', async () => {
  await withTempDir(async (tmp) => {
    const env = { ...(await isolatedHome(tmp)), ...EPOCH, TMPDIR: join(tmp, 'tmp') };
    await mkdir(env.TMPDIR, { recursive: true });
    const store = join(tmp, 'store');
    const ctx = join(tmp, 'ctx');
    await makeContext(ctx, 'FROM scratch\nCOPY app /app\n', { 'app/hello.txt': 'hello\n' });
    const files = join(tmp, 'files');
    await mkdir(files);
    await tool('tar', ['-czf', join(files, 'ctx.tar.gz'), '-C', ctx, '.']);
    await tool('tar', ['-cf', join(files, 'ctx.tar'), '-C', ctx, '.']);
    // A bare repository: tag v1 has the first version, main a later one, in app/ of the repo.
    const work = join(tmp, 'work');
    await makeContext(join(work, 'app'), 'FROM scratch\nCOPY msg.txt /msg.txt\n', { 'msg.txt': 'v1\n' });
    const git = (args: string[], cwd = work) =>
      tool('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', '-c', 'init.defaultBranch=main', ...args], {
        cwd,
      });
    await git(['init', '-q']);
    await git(['add', '.']);
    await git(['commit', '-q', '-m', 'v1']);
    await git(['tag', 'v1']);
    const v1 = (await git(['rev-parse', 'HEAD'])).trim();
    await writeFile(join(work, 'app', 'msg.txt'), 'v2\n');
    await git(['commit', '-q', '-am', 'v2']);
    const repos = join(tmp, 'repos');
    await mkdir(repos);
    await tool('git', ['clone', '-q', '--bare', work, join(repos, 'repo.git')]);
    const server = await startGitHttpServer(repos, files);
    try {
      const local = await gantry(['build', ctx, '--progress=quiet'], { store, env });
      assert.equal(local.code, 0, local.stderr);
      const fromUrl = await gantry(['build', `${server.url}/files/ctx.tar.gz`, '--progress=plain'], { store, env });
      assert.equal(fromUrl.code, 0, fromUrl.stderr);
      assert.equal(fromUrl.stdout, local.stdout, 'the tar.gz URL builds the same image as the directory');
      assert.match(fromUrl.stderr, /fetching context http:\/\/127\.0\.0\.1:\d+\/files\/ctx\.tar\.gz/);
      const fromStdin = await gantryWithStdinFile(['build', '-', '--progress=quiet'], join(files, 'ctx.tar'), {
        ...env,
        GANTRY_STORE: store,
      });
      assert.equal(fromStdin.code, 0, fromStdin.stderr);
      assert.equal(fromStdin.stdout, local.stdout, 'a tar on stdin builds the same image');
      // A Dockerfile alone on stdin: an empty context.
      const dockerfileOnly = await gantry(
        ['build', '-', '--progress=quiet', '-o', `type=local,dest=${join(tmp, 'df')}`],
        {
          store,
          env,
          input: 'FROM scratch\nENV A=1\n',
        },
      );
      assert.equal(dockerfileOnly.code, 0, dockerfileOnly.stderr);
      for (const [ref, want] of [
        ['v1', 'v1\n'],
        [v1, 'v1\n'],
        ['main', 'v2\n'],
      ] as const) {
        const out = join(tmp, `git-${want.trim()}-${ref.length}`);
        const r = await gantry(
          ['build', `${server.url}/repo.git#${ref}:app`, '--progress=quiet', '-o', `type=local,dest=${out}`],
          {
            store,
            env,
          },
        );
        assert.equal(r.code, 0, r.stderr);
        assert.equal(await readFile(join(out, 'msg.txt'), 'utf8'), want, `git ref ${ref}`);
      }
      assert.ok(
        server.requests.some((p) => p.includes('git-upload-pack')),
        'the git context came over smart HTTP',
      );
      assert.deepEqual(await readdir(env.TMPDIR), [], 'every fetched context was removed');
    } finally {
      await server.stop();
    }
  });
});

test('a hostile context archive is refused and writes nothing outside its directory', async () => {
  await withTempDir(async (tmp) => {
    const env = { ...(await isolatedHome(tmp)), TMPDIR: join(tmp, 'tmp') };
    await mkdir(env.TMPDIR);
    const files = join(tmp, 'files');
    await mkdir(files);
    // python's tarfile writes what GNU tar refuses to: a member that climbs out, and an absolute link.
    await tool('python3', [
      '-c',
      `import tarfile, io
with tarfile.open('${join(files, 'evil.tar.gz')}', 'w:gz') as t:
    d = b'FROM scratch\\n'
    i = tarfile.TarInfo('Dockerfile'); i.size = len(d); t.addfile(i, io.BytesIO(d))
    e = b'pwned'
    i = tarfile.TarInfo('../../escaped'); i.size = len(e); t.addfile(i, io.BytesIO(e))`,
    ]);
    const server = await startGitHttpServer(join(tmp, 'none'), files);
    try {
      const r = await gantry(['build', `${server.url}/files/evil.tar.gz`], { store: join(tmp, 'store'), env });
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /escaped/);
      assert.equal(
        r.stderr
          .trim()
          .split('\n')
          .filter((l) => l.startsWith('gantry: error')).length,
        1,
      );
      assert.equal(existsSync(join(tmp, 'escaped')), false);
      assert.equal(existsSync(join(env.TMPDIR, 'escaped')), false);
      assert.deepEqual(await readdir(env.TMPDIR), [], 'the fetched context was removed');
    } finally {
      await server.stop();
    }
  });
});

test('exit codes by class (usage 2, auth 3, network 4, build 5) and a mounted .dockerconfigjson', async () => {
  const fixture = await busyboxImage();
  const registry = await startRegistry({ mode: 'tls-basic' });
  try {
    await withTempDir(async (tmp) => {
      const env = await isolatedHome(tmp);
      const certs = join(env.HOME as string, '.docker', 'certs.d', registry.host);
      await mkdir(certs, { recursive: true });
      await copyFile(registry.caFile as string, join(certs, 'ca.crt'));
      const store = join(tmp, 'store');
      assert.equal((await gantry(['load', fixture.layoutDir, '-t', 'busybox:1'], { store, env })).code, 0);
      const ctx = join(tmp, 'ctx');
      await makeContext(ctx, 'FROM busybox:1\nRUN exit 3\n', {});
      const build = await gantry(['build', ctx, '--progress=plain'], { store, env });
      assert.equal(build.code, 5, build.stderr);
      const usage = await gantry(['build', ctx, '--no-such-flag'], { store, env });
      assert.equal(usage.code, 2, usage.stderr);
      const dest = `${registry.host}/x/busybox:1`;
      const anonymous = await gantry(['push', 'busybox:1', dest], { store, env });
      assert.equal(anonymous.code, 3, anonymous.stderr);
      const network = await gantry(['push', 'busybox:1', '127.0.0.1:1/x/busybox:1', '--plain-http'], { store, env });
      assert.equal(network.code, 4, network.stderr);
      const missing = await gantry(['build', 'http://127.0.0.1:1/ctx.tar.gz'], { store, env });
      assert.equal(missing.code, 4, missing.stderr);
      assert.match(missing.stderr, /cannot fetch the build context/);
      // A kubernetes.io/dockerconfigjson secret mounted as a volume: DOCKER_CONFIG names the
      // directory, which holds only the file `.dockerconfigjson`.
      const mounted = join(tmp, 'secret');
      await mkdir(mounted);
      const auth = Buffer.from(`${registry.username}:${registry.password}`).toString('base64');
      await writeFile(join(mounted, '.dockerconfigjson'), JSON.stringify({ auths: { [registry.host]: { auth } } }));
      const pushed = await gantry(['push', 'busybox:1', dest], { store, env: { ...env, DOCKER_CONFIG: mounted } });
      assert.equal(pushed.code, 0, pushed.stderr);
    });
  } finally {
    await registry.stop();
  }
});

test('--log-format json and the termination log: every line an object, the result and the error for Kubernetes', async () => {
  const fixture = await busyboxImage();
  await withTempDir(async (tmp) => {
    const env = { ...(await isolatedHome(tmp)), ...EPOCH };
    const store = join(tmp, 'store');
    assert.equal((await gantry(['load', fixture.layoutDir, '-t', 'busybox:1'], { store, env })).code, 0);
    const ctx = join(tmp, 'ctx');
    await makeContext(ctx, 'FROM busybox:1\nRUN echo built > /built.txt && echo said-so\n', {});
    const log = join(tmp, 'termination-log');
    const lines = (stderr: string) =>
      stderr
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const round of [1, 2]) {
      const r = await gantry(['build', ctx, '-t', 'job:1', '--log-format', 'json', '--termination-log', log], {
        store,
        env,
      });
      assert.equal(r.code, 0, r.stderr);
      const objects = lines(r.stderr);
      for (const o of objects) {
        assert.equal(typeof o.time, 'string');
        assert.ok(['info', 'warn', 'error'].includes(o.level as string), JSON.stringify(o));
        assert.equal(typeof o.message, 'string');
      }
      if (round === 1) assert.ok(objects.some((o) => o.message === 'said-so' && typeof o.step === 'string'));
      const metrics = objects.find((o) => o.message === 'metrics')?.metrics as Record<string, number> | undefined;
      assert.ok(metrics, 'the build ends with its metrics');
      const result = JSON.parse(await readFile(log, 'utf8')) as Record<string, unknown>;
      assert.equal(result.status, 'success');
      assert.equal(result.exitCode, 0);
      assert.match(String(result.digest), /^sha256:[0-9a-f]{64}$/);
      assert.deepEqual(result.references, [`docker.io/library/job:1@${result.digest}`]);
      const m = result.metrics as { steps: { cached: boolean }[]; cacheHits: number; peakMemoryBytes: number };
      assert.equal(m.steps.length, 1);
      assert.equal(m.cacheHits, round === 1 ? 0 : 1, `round ${round}`);
      assert.ok(m.peakMemoryBytes > 0);
    }
    await writeFile(join(ctx, 'Dockerfile'), 'FROM busybox:1\nRUN exit 7\n');
    const failed = await gantry(['build', ctx, '--log-format=json', '--termination-log', log], { store, env });
    assert.equal(failed.code, 5, failed.stderr);
    const last = lines(failed.stderr).at(-1) as Record<string, unknown>;
    assert.equal(last.level, 'error');
    assert.equal(last.code, 'RUN_FAILED');
    const result = JSON.parse(await readFile(log, 'utf8')) as {
      status: string;
      exitCode: number;
      error: { code: string };
    };
    assert.equal(result.status, 'failure');
    assert.equal(result.exitCode, 5);
    assert.equal(result.error.code, 'RUN_FAILED');
  });
});

test('an unprivileged pod: non-root without user namespaces builds without RUN and says what RUN needs', async () => {
  const fixture = await busyboxImage();
  await withTempDir(async (tmp) => {
    await chmod(tmp, 0o755);
    const env: NodeJS.ProcessEnv = {
      ...(await isolatedHome(tmp)),
      GANTRY_STORE: join(tmp, 'store'),
      TMPDIR: join(tmp, 'tmp'),
      KUBERNETES_SERVICE_HOST: '10.96.0.1',
    };
    await mkdir(env.TMPDIR as string);
    const layout = join(tmp, 'busybox');
    await tool('cp', ['-r', fixture.layoutDir, layout]);
    await makeContext(join(tmp, 'copy'), 'FROM busybox:1\nCOPY f /f\n', { f: 'data\n' });
    await makeContext(join(tmp, 'run'), 'FROM busybox:1\nRUN echo hi > /hi\n', {});
    await tool('chown', ['-R', '1000:1000', tmp]);
    const pod = (args: string[]) => runUnprivileged([process.execPath, gantryBin, ...args], { env, cwd: tmp });
    const loaded = await pod(['load', layout, '-t', 'busybox:1']);
    assert.equal(loaded.code, 0, loaded.stderr);
    const copied = await pod(['build', join(tmp, 'copy'), '-t', 'copy:1', '-o', `type=local,dest=${join(tmp, 'out')}`]);
    assert.equal(copied.code, 0, copied.stderr);
    assert.equal(await readFile(join(tmp, 'out', 'f'), 'utf8'), 'data\n');
    const ran = await pod(['build', join(tmp, 'run'), '--progress=plain']);
    assert.equal(ran.code, 5, ran.stderr);
    const errors = ran.stderr.split('\n').filter((l) => l.startsWith('gantry: error'));
    assert.equal(errors.length, 1, ran.stderr);
    assert.match(errors[0] as string, /no sandbox for RUN steps.*runAsUser: 0.*builds without RUN work/);
    const info = await pod(['info']);
    assert.equal(info.code, 0, info.stderr);
    assert.match(info.stdout, /sandbox: +none available \(no sandbox can run RUN steps here \(a non-root container/);
    assert.match(info.stdout, /user namespaces: max 0/);
  });
});

test('a root pod without CAP_SYS_ADMIN runs RUN chrooted and says so once', async () => {
  const fixture = await busyboxImage();
  await withTempDir(async (tmp) => {
    const env: NodeJS.ProcessEnv = { ...(await isolatedHome(tmp)), KUBERNETES_SERVICE_HOST: '10.96.0.1' };
    const store = join(tmp, 'store');
    assert.equal((await gantry(['load', fixture.layoutDir, '-t', 'busybox:1'], { store, env })).code, 0);
    await makeContext(join(tmp, 'run'), 'FROM busybox:1\nRUN echo one > /one\nRUN echo two > /two\n', {});
    // A pod's root: the runtime's default capabilities, which leave out CAP_SYS_ADMIN (no mounts, no namespaces).
    const out = join(tmp, 'out');
    const r = await run('setpriv', [
      '--bounding-set=-sys_admin',
      '--inh-caps=-sys_admin',
      'env',
      `GANTRY_STORE=${store}`,
      ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
      process.execPath,
      gantryBin,
      'build',
      join(tmp, 'run'),
      '--progress=plain',
      '-o',
      `type=local,dest=${out}`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await readFile(join(out, 'two'), 'utf8'), 'two\n');
    assert.equal(r.stderr.match(/WARNING: no namespaces in this container/g)?.length, 1, r.stderr);
    assert.equal(r.stderr.match(/WARNING: overlayfs cannot be mounted here/g)?.length, 1, r.stderr);
  });
});
