// build --driver kubernetes (issue 12 item 7) against the Kubernetes API stand-in and its kubelet
// stand-in (test/harness/kube-api.ts, kube-jobs.ts): the Job runs the real gantry, which pulls
// from and pushes to a real registry (TLS + basic auth) with the credential the driver lent it.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { gantry, gantryBin, isolatedHome, run, tool, withTempDir } from '../cli/helpers.js';
import { busyboxImage } from '../harness/fixtures.js';
import { startKubeApi } from '../harness/kube-api.js';
import { startRegistry } from '../harness/registry.js';

type Registry = Awaited<ReturnType<typeof startRegistry>>;

/** The laptop's environment: its own HOME, trusting the registry's CA as docker's certs.d does. */
async function laptop(tmp: string, registry: Registry) {
  const env: NodeJS.ProcessEnv = { ...(await isolatedHome(tmp)), GANTRY_DRIVER_POLL_MS: '200' };
  const certs = join(env.HOME as string, '.docker', 'certs.d', registry.host);
  await mkdir(certs, { recursive: true });
  await copyFile(registry.caFile as string, join(certs, 'ca.crt'));
  return { env, certs };
}

/** Logs the laptop in to the registry and pushes the busybox fixture there; returns its name. */
async function seedBase(registry: Registry, store: string, env: NodeJS.ProcessEnv): Promise<string> {
  const login = await gantry(['login', registry.host, '-u', registry.username as string, '--password-stdin'], {
    store,
    env,
    input: `${registry.password}\n`,
  });
  assert.equal(login.code, 0, login.stderr);
  const fixture = await busyboxImage();
  assert.equal((await gantry(['load', fixture.layoutDir, '-t', 'busybox:1'], { store, env })).code, 0);
  const base = `${registry.host}/lib/busybox:1`;
  assert.equal((await gantry(['push', 'busybox:1', base], { store, env })).code, 0);
  return base;
}

test('build --driver kubernetes runs the build as a Job, streams its log, returns the digest and cleans up', async () => {
  const registry = await startRegistry({ mode: 'tls-basic' });
  try {
    await withTempDir(async (tmp) => {
      const { env, certs } = await laptop(tmp, registry);
      const kube = await startKubeApi({
        kubelet: {
          imageCommand: () => [process.execPath, gantryBin],
          // The pod trusts the registry's CA as the cluster's nodes would.
          env: { HOME: env.HOME },
        },
      });
      try {
        env.KUBECONFIG = await kube.kubeconfig(join(tmp, 'kubeconfig'));
        const store = join(tmp, 'store');
        const base = await seedBase(registry, store, env);
        const ctx = join(tmp, 'ctx');
        await mkdir(ctx);
        await writeFile(join(ctx, 'Dockerfile'), `FROM ${base}\nCOPY note /note\nRUN echo built-in-the-cluster\n`);
        await writeFile(join(ctx, 'note'), 'from my laptop\n');
        const dest = `${registry.host}/team/app:1`;
        const r = await gantry(
          [
            'build',
            ctx,
            '-t',
            dest,
            '--push',
            '--progress=plain',
            '--driver',
            'kubernetes,namespace=builds,image=gantry:test,cpu=1,memory=2Gi',
          ],
          { store, env },
        );
        assert.equal(r.code, 0, r.stderr);
        const printed = /^(\S+)@(sha256:[0-9a-f]{64})$/m.exec(r.stdout);
        assert.ok(printed, r.stdout);
        assert.equal(printed[1], dest);
        assert.match(r.stderr, /built-in-the-cluster/, 'the pod log reached the local progress');
        const inspected = JSON.parse(
          await tool('skopeo', [
            'inspect',
            '--cert-dir',
            certs,
            '--creds',
            `${registry.username}:${registry.password}`,
            `docker://${dest}`,
          ]),
        ) as { Digest: string };
        assert.equal(inspected.Digest, printed[2]);
        const jobs = kube.jobs;
        assert.ok(jobs);
        assert.equal(jobs.deleted.length, 1, 'the Job was deleted after the build');
        assert.match(jobs.deleted[0] as string, /^builds\/gantry-build-[0-9a-f]{8}$/);
        assert.equal(jobs.configMaps.size, 0, 'the context ConfigMap went with the Job');
        assert.equal(jobs.secrets.size, 0, 'the credential Secret went with the Job');
        const created = kube.requests.filter((q) => q.method === 'POST').map((q) => q.path);
        assert.deepEqual(
          created.map((p) => p.replace(/\?.*$/, '')),
          [
            '/apis/batch/v1/namespaces/builds/jobs',
            '/api/v1/namespaces/builds/configmaps',
            '/api/v1/namespaces/builds/secrets',
          ],
        );
        // A failing build: the pod's error comes back, with the build's exit code; the Job is deleted.
        await writeFile(join(ctx, 'Dockerfile'), `FROM ${base}\nRUN exit 3\n`);
        const failed = await gantry(['build', ctx, '-t', dest, '--push', '--driver', 'kubernetes,namespace=builds'], {
          store,
          env,
        });
        assert.equal(failed.code, 5, failed.stderr);
        assert.match(
          failed.stderr,
          /gantry: error: the build failed in job builds\/gantry-build-[0-9a-f]{8} \(exit 5\)/,
        );
        assert.equal(jobs.deleted.length, 2);
        // Ctrl-C: the Job (and its pod) are deleted.
        await writeFile(join(ctx, 'Dockerfile'), `FROM ${base}\nRUN echo waiting && sleep 60\n`);
        let sent = false;
        const interrupted = await gantry(
          ['build', ctx, '-t', dest, '--push', '--progress=plain', '--driver', 'kubernetes'],
          {
            store,
            env,
            onStderr: (chunk, child) => {
              if (!sent && /waiting/.test(chunk)) {
                sent = true;
                child.kill('SIGINT');
              }
            },
          },
        );
        assert.ok(sent, interrupted.stderr);
        assert.equal(interrupted.code, 130, interrupted.stderr);
        assert.equal(jobs.deleted.length, 3);
        assert.equal(jobs.pods.size, 0);
        // From inside a pod: no kubeconfig, the service account mounted where Kubernetes puts it
        // (in a private mount namespace here), the namespace from its `namespace` file.
        await writeFile(join(ctx, 'Dockerfile'), `FROM ${base}\nCOPY note /note\n`);
        const account = join(tmp, 'serviceaccount');
        await mkdir(account);
        await writeFile(join(account, 'token'), kube.token);
        await copyFile(kube.caFile, join(account, 'ca.crt'));
        await writeFile(join(account, 'namespace'), 'ci');
        const port = new URL(kube.server).port;
        const podEnv = [
          `HOME=${env.HOME}`,
          `DOCKER_CONFIG=${env.DOCKER_CONFIG}`,
          `GANTRY_STORE=${store}`,
          'GANTRY_DRIVER_POLL_MS=200',
          'KUBERNETES_SERVICE_HOST=127.0.0.1',
          `KUBERNETES_SERVICE_PORT=${port}`,
        ];
        const inCluster = await run('unshare', [
          '--mount',
          'sh',
          '-c',
          'mount -t tmpfs sa /run && mkdir -p /run/secrets/kubernetes.io && cp -r "$0" /run/secrets/kubernetes.io/serviceaccount && exec "$@"',
          account,
          'env',
          '-i',
          `PATH=${process.env.PATH}`,
          ...podEnv,
          process.execPath,
          gantryBin,
          'build',
          ctx,
          '-t',
          dest,
          '--push',
          '--driver',
          'kubernetes',
        ]);
        assert.equal(inCluster.code, 0, inCluster.stderr);
        assert.match(inCluster.stdout, new RegExp(`^${dest.replace(/[.:/]/g, '\\$&')}@sha256:`, 'm'));
        assert.match(
          jobs.deleted.at(-1) as string,
          /^ci\/gantry-build-/,
          'the Job went to the service account namespace',
        );
        // Flags that need this machine are refused before anything is sent.
        const local = await gantry(['build', ctx, '-t', dest, '-o', 'type=local,dest=out', '--driver', 'kubernetes'], {
          store,
          env,
        });
        assert.equal(local.code, 2, local.stderr);
      } finally {
        await kube.stop();
      }
    });
  } finally {
    await registry.stop();
  }
});

test('build --driver kubernetes sends a context over 768 KiB as an OCI artifact the pod fetches by digest, deletes it after, and Jobs share a registry cache', async () => {
  const registry = await startRegistry({ mode: 'tls-basic' });
  try {
    await withTempDir(async (tmp) => {
      const { env, certs } = await laptop(tmp, registry);
      const kube = await startKubeApi({
        kubelet: { imageCommand: () => [process.execPath, gantryBin], env: { HOME: env.HOME } },
      });
      try {
        env.KUBECONFIG = await kube.kubeconfig(join(tmp, 'kubeconfig'));
        const store = join(tmp, 'store');
        const base = await seedBase(registry, store, env);
        const ctx = join(tmp, 'ctx');
        await mkdir(ctx);
        // 1.5 MiB of random bytes: gzip cannot bring it under the ConfigMap limit.
        const big = randomBytes(1536 * 1024);
        await writeFile(join(ctx, 'big.bin'), big);
        await writeFile(
          join(ctx, 'Dockerfile'),
          `FROM ${base}\nCOPY big.bin /big.bin\nRUN echo ran-the-step && md5sum /big.bin > /sum\n`,
        );
        const dest = `${registry.host}/team/big:1`;
        const cache = `${registry.host}/team/cache:shared`;
        const driverBuild = (extra: readonly string[]) =>
          gantry(
            [
              'build',
              ctx,
              '-t',
              dest,
              '--push',
              '--progress=plain',
              ...extra,
              '--driver',
              'kubernetes,namespace=builds',
            ],
            { store, env },
          );
        const first = await driverBuild(['--cache-to', `type=registry,ref=${cache},mode=max`]);
        assert.equal(first.code, 0, first.stderr);
        const sent = new RegExp(`as (${registry.host.replace(/[.:]/g, '\\$&')}/team/big@sha256:[0-9a-f]{64})`).exec(
          first.stderr,
        );
        assert.ok(sent, `the context went up as an artifact: ${first.stderr}`);
        const job = kube.jobs?.created.at(-1) as unknown as {
          spec: { template: { spec: { containers: { args: string[] }[]; volumes: { configMap?: unknown }[] } } };
        };
        const pod = job.spec.template.spec;
        assert.ok(pod.containers[0]?.args.includes(`oci-artifact://${sent[1]}`), JSON.stringify(pod.containers[0]));
        assert.equal(
          pod.volumes.some((v) => v.configMap !== undefined),
          false,
          'no ConfigMap volume',
        );
        assert.equal(
          kube.requests.some((q) => q.method === 'POST' && q.path.includes('/configmaps')),
          false,
          'no ConfigMap was created',
        );
        assert.match(first.stderr, /ran-the-step/);
        // The image holds the bytes sent, read back from the registry.
        const printed = /^(\S+)@(sha256:[0-9a-f]{64})$/m.exec(first.stdout);
        assert.ok(printed, first.stdout);
        const unpacked = join(tmp, 'unpacked');
        await tool('skopeo', [
          'copy',
          '--src-cert-dir',
          certs,
          '--src-creds',
          `${registry.username}:${registry.password}`,
          `docker://${dest}`,
          `oci:${join(tmp, 'oci')}:big`,
        ]);
        await tool('umoci', ['raw', 'unpack', '--rootless', '--image', `${join(tmp, 'oci')}:big`, unpacked]);
        assert.ok((await readFile(join(unpacked, 'big.bin'))).equals(big), 'the image holds the context sent');
        // The artifact was deleted when the build ended.
        const inspect = await run('skopeo', [
          'inspect',
          '--raw',
          '--cert-dir',
          certs,
          '--creds',
          `${registry.username}:${registry.password}`,
          `docker://${sent[1]}`,
        ]);
        assert.notEqual(inspect.code, 0, 'the context artifact is still in the registry');

        // A second Job (a fresh pod, an empty store) with --cache-from: the RUN step is a cache hit.
        const second = await driverBuild(['--cache-from', `type=registry,ref=${cache}`]);
        assert.equal(second.code, 0, second.stderr);
        const runStep = /^#(\d+) \[[^\]]*\] RUN echo ran-the-step/m.exec(second.stderr);
        assert.ok(runStep, second.stderr);
        assert.match(second.stderr, new RegExp(`^#${runStep[1]} CACHED`, 'm'));
        assert.doesNotMatch(second.stderr, /^#\d+ ran-the-step/m, 'the RUN step ran again');
        const again = /^(\S+)@(sha256:[0-9a-f]{64})$/m.exec(second.stdout);
        assert.equal(again?.[2], printed[2], 'the same image');
      } finally {
        await kube.stop();
      }
    });
  } finally {
    await registry.stop();
  }
});
