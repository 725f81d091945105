// idpbuilder end to end through the real binary. STAND-INS (no cluster, no Gitea here): the
// Kubernetes API is test/harness/kube-api.ts (node:https, its own CA, bearer token, Secret /
// ConfigMap / LocalbuildList / Status shapes from the API reference); Gitea is
// test/harness/gitea.ts (the real distribution registry, TLS + basic auth, behind a TLS front
// answering as gitea.cnoe.localtest.me via a marked /etc/hosts line, plus a packages-API stand-in).
// gantry's side is real: @kubernetes/client-node, TLS verified against the CA read from the
// cluster, the registry client; skopeo reads the pushed image back with the CA.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { gantry, isolatedHome, repoRoot, tool, withTempDir } from '../cli/helpers.js';
import { GITEA_HOSTNAME, type GiteaStandIn, startGitea, withHostsEntry } from '../harness/gitea.js';
import { type KubeApiStandIn, type KubeObjects, startKubeApi } from '../harness/kube-api.js';
import { freePort, generateTls } from '../harness/registry.js';

const app = join(repoRoot, 'examples', 'hello');

/** An isolated HOME (no ~/.kube either), with the kubeconfig of the stand-in cluster when given. */
async function isolatedEnv(tmp: string, kubeconfig: string | undefined): Promise<NodeJS.ProcessEnv> {
  return { ...(await isolatedHome(tmp)), KUBERNETES_SERVICE_HOST: '', KUBECONFIG: kubeconfig ?? '' };
}

/** The objects of an idpbuilder cluster whose Gitea is the stand-in. */
function clusterObjects(gitea: GiteaStandIn, ca: string = gitea.caPem, pathRouting = false): KubeObjects {
  return {
    custom: {
      'idpbuilder.cnoe.io/v1alpha1/localbuilds': {
        kind: 'Localbuild',
        items: [
          {
            metadata: { name: 'localdev', uid: '5e2a', resourceVersion: '812', generation: 1 },
            spec: {
              buildCustomization: {
                protocol: 'https',
                host: 'cnoe.localtest.me',
                ingressHost: 'localhost',
                port: String(gitea.port),
                usePathRouting: pathRouting,
                selfSignedCert: ca,
              },
              packageConfigs: {
                argoPackageConfigs: { enabled: true },
                embeddedArgoApplicationsPackageConfigs: { enabled: true },
              },
            },
            status: {
              gitea: {
                available: true,
                externalURL: `https://${gitea.host}`,
                internalURL: 'http://my-gitea-http.gitea.svc.cluster.local:3000',
              },
            },
          },
        ],
      },
    },
    secrets: {
      'gitea/gitea-credential': { username: gitea.username, password: gitea.password, token: gitea.token },
      'ingress-nginx/idpbuilder-cert': { 'tls.crt': ca, 'tls.key': 'not used' },
    },
  };
}

async function withCluster<T>(
  objects: KubeObjects,
  tmp: string,
  fn: (kube: KubeApiStandIn, env: NodeJS.ProcessEnv) => Promise<T>,
): Promise<T> {
  const kube = await startKubeApi(objects);
  try {
    const file = await kube.kubeconfig(join(tmp, `kubeconfig-${Math.random().toString(36).slice(2)}`));
    return await fn(kube, await isolatedEnv(tmp, file));
  } finally {
    await kube.stop();
  }
}

function oneLine(stderr: string): string {
  const lines = stderr.trim().split('\n');
  return lines[lines.length - 1] ?? '';
}

test('idpbuilder: build, push, list and delete on the cluster Gitea with nothing but a kubeconfig (stand-ins)', async (t) => {
  const gitea = await startGitea();
  try {
    await withHostsEntry([GITEA_HOSTNAME], () =>
      withTempDir(async (tmp) => {
        const store = join(tmp, 'store');
        const ref = `${gitea.host}/giteaadmin/myapp:v1`;
        await withCluster(clusterObjects(gitea), tmp, async (kube, env) => {
          await t.test(
            'build --idpbuilder pushes to GITEA/giteaadmin/NAME with the secret token and the cluster CA',
            async () => {
              const r = await gantry(['build', app, '-t', 'myapp:v1', '--idpbuilder', '--progress=plain'], {
                store,
                env,
              });
              assert.equal(r.code, 0, r.stderr);
              const sk = JSON.parse(
                await tool('skopeo', [
                  'inspect',
                  '--cert-dir',
                  gitea.certsDir,
                  '--creds',
                  `${gitea.username}:${gitea.token}`,
                  `docker://${ref}`,
                ]),
              ) as { Digest: string; Name: string };
              assert.match(sk.Digest, /^sha256:[0-9a-f]{64}$/);
              assert.equal(sk.Name, `${gitea.host}/giteaadmin/myapp`);
              const paths = kube.requests.map((q) => q.path);
              assert.ok(paths.includes('/apis/idpbuilder.cnoe.io/v1alpha1/localbuilds'), paths.join('\n'));
              assert.ok(paths.includes('/api/v1/namespaces/gitea/secrets/gitea-credential'), paths.join('\n'));
              assert.ok(paths.includes('/api/v1/namespaces/ingress-nginx/secrets/idpbuilder-cert'), paths.join('\n'));
              assert.ok(kube.requests.every((q) => q.authorized));
              // The push's SBOM and provenance (on by default) sit under the sha256-<hex> tag of
              // the image's digest: Gitea has no referrers API and keeps that tag as a version.
              assert.deepEqual(gitea.packages.map((p) => `${p.name}:${p.version}`).sort(), [
                `myapp:${sk.Digest.replace(':', '-')}`,
                'myapp:v1',
              ]);
            },
          );

          await t.test('catalog --idpbuilder lists the container packages (table and json)', async () => {
            const table = await gantry(['catalog', '--idpbuilder'], { store, env });
            assert.equal(table.code, 0, table.stderr);
            const lines = table.stdout.trim().split('\n');
            assert.match(lines[0] ?? '', /^NAME\s+TAG\s+CREATED$/);
            assert.match(
              lines[1] ?? '',
              new RegExp(`^${gitea.host.replace(/\./g, '\\.')}/giteaadmin/myapp\\s+v1\\s+\\d{4}-`),
            );
            const json = await gantry(['catalog', '--idpbuilder', '--format', 'json'], { store, env });
            assert.equal(json.code, 0, json.stderr);
            const rows = JSON.parse(json.stdout) as { name: string; tag: string; created: string }[];
            assert.deepEqual(
              rows.map((r) => [r.name, r.tag]),
              [[`${gitea.host}/giteaadmin/myapp`, 'v1']],
            );
            assert.ok(!Number.isNaN(Date.parse(rows[0]?.created ?? '')));
          });

          await t.test('catalog HOST lists packages when HOST is the cluster Gitea', async () => {
            const r = await gantry(['catalog', gitea.host, '--format', 'json'], { store, env });
            assert.equal(r.code, 0, r.stderr);
            assert.equal((JSON.parse(r.stdout) as unknown[]).length, 1);
          });

          await t.test(
            'a full Gitea reference gets the cluster credential and CA with nothing configured (tags, inspect, pull, push, delete)',
            async () => {
              const tags = await gantry(['tags', `${gitea.host}/giteaadmin/myapp`], { store, env });
              assert.equal(tags.code, 0, tags.stderr);
              assert.deepEqual(tags.stdout.trim().split('\n'), ['v1']);
              const inspect = await gantry(['inspect', ref], { store, env });
              assert.equal(inspect.code, 0, inspect.stderr);
              const pull = await gantry(['pull', ref], { store, env });
              assert.equal(pull.code, 0, pull.stderr);
              const push = await gantry(['push', ref, `${gitea.host}/giteaadmin/copied:v1`], { store, env });
              assert.equal(push.code, 0, push.stderr);
              assert.ok(gitea.packages.some((p) => p.name === 'copied' && p.version === 'v1'));
              const del = await gantry(['delete', `${gitea.host}/giteaadmin/copied:v1`], { store, env });
              assert.equal(del.code, 0, del.stderr);
              assert.ok(!gitea.packages.some((p) => p.name === 'copied'));
            },
          );

          await t.test('--kube-context picks a context other than the current one', async () => {
            const file = env.KUBECONFIG as string;
            const config = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown[] | string>;
            (config.clusters as unknown[]).push({ name: 'down', cluster: { server: 'https://127.0.0.1:1' } });
            (config.contexts as unknown[]).push({ name: 'down', context: { cluster: 'down', user: 'kind-localdev' } });
            config['current-context'] = 'down';
            const two = join(tmp, 'two-contexts');
            await writeFile(two, JSON.stringify(config));
            const down = await gantry(['catalog', '--idpbuilder'], { store, env: { ...env, KUBECONFIG: two } });
            assert.equal(down.code, 4, down.stderr);
            assert.match(oneLine(down.stderr), /cannot reach the Kubernetes API at https:\/\/127\.0\.0\.1:1\b/);
            const picked = await gantry(['--kube-context', 'kind-localdev', 'catalog', '--idpbuilder'], {
              store,
              env: { ...env, KUBECONFIG: two },
            });
            assert.equal(picked.code, 0, picked.stderr);
            assert.match(picked.stdout, /giteaadmin\/myapp\s+v1/);
          });

          await t.test('an upper-case name is refused before any work, saying so', async () => {
            const before = gitea.requests.length;
            const r = await gantry(['build', app, '-t', 'MyApp:v2', '--idpbuilder'], { store, env });
            assert.equal(r.code, 2);
            assert.match(oneLine(r.stderr), /upper-case.*use -t myapp:v2/);
            assert.equal(gitea.requests.length, before);
          });

          await t.test('--insecure with --idpbuilder warns that TLS is not verified', async () => {
            const r = await gantry(['--insecure', 'catalog', '--idpbuilder'], { store, env });
            assert.equal(r.code, 0, r.stderr);
            assert.match(
              r.stderr,
              /warning: --insecure: the TLS certificate of gitea\.cnoe\.localtest\.me:\d+ is not verified/,
            );
          });

          await t.test('Gitea refusing the push (quota) is one line naming Gitea, and leaves no tag', async () => {
            gitea.denyPush = 'package quota exceeded';
            try {
              const r = await gantry(['build', app, '-t', 'other:v1', '--idpbuilder', '--label', 'x=1'], {
                store,
                env,
              });
              assert.equal(r.code, 3, r.stderr);
              assert.match(
                oneLine(r.stderr),
                /^gantry: error: Gitea at gitea\.cnoe\.localtest\.me:\d+ refused the push: .*giteaadmin\/other.*\(Gitea: package quota exceeded\)/,
              );
              assert.ok(!gitea.packages.some((p) => p.name === 'other'));
            } finally {
              gitea.denyPush = undefined;
            }
          });

          await t.test(
            'delete falls back to the packages API when the registry refuses manifest deletion',
            async () => {
              gitea.refuseManifestDelete = true;
              try {
                const r = await gantry(['delete', ref], { store, env });
                assert.equal(r.code, 0, r.stderr);
                assert.ok(
                  gitea.requests.some(
                    (q) => q.method === 'DELETE' && q.path === '/api/v1/packages/giteaadmin/container/myapp/v1',
                  ),
                );
                // What is left is the referrers tag of the deleted image (as with crane delete).
                assert.deepEqual(
                  gitea.packages.filter((p) => !/^sha256-[0-9a-f]{64}$/.test(p.version)),
                  [],
                );
                const after = await gantry(['catalog', '--idpbuilder', '--format', 'json'], { store, env });
                assert.deepEqual(JSON.parse(after.stdout), []);
              } finally {
                gitea.refuseManifestDelete = false;
              }
            },
          );
        });

        await t.test('the CA falls back to config map default/idpbuilder-cert (ca.crt)', async () => {
          const objects = clusterObjects(gitea);
          const { 'ingress-nginx/idpbuilder-cert': _, ...secrets } = objects.secrets ?? {};
          await withCluster(
            { ...objects, secrets, configMaps: { 'default/idpbuilder-cert': { 'ca.crt': gitea.caPem } } },
            tmp,
            async (kube, env) => {
              const r = await gantry(['build', app, '-t', 'fromcm:v1', '--idpbuilder'], { store, env });
              assert.equal(r.code, 0, r.stderr);
              assert.ok(kube.requests.some((q) => q.path === '/api/v1/namespaces/default/configmaps/idpbuilder-cert'));
              assert.ok(gitea.packages.some((p) => p.name === 'fromcm'));
            },
          );
        });

        await t.test(
          'the cluster CA is what verifies Gitea: a cluster whose CA did not sign Gitea is refused',
          async () => {
            const other = await generateTls(join(tmp, 'other-ca'));
            const wrong = await readFile(other.caFile, 'utf8');
            await withCluster(clusterObjects(gitea, wrong), tmp, async (_kube, env) => {
              const r = await gantry(['tags', `${gitea.host}/giteaadmin/fromcm`], { store, env });
              assert.equal(r.code, 4, r.stderr);
              assert.match(oneLine(r.stderr), /certificate|TLS/i);
            });
          },
        );
      }),
    );
  } finally {
    await gitea.stop();
  }
});

test('idpbuilder: path routing puts the registry at HOST:PORT and the API under /gitea (stand-ins)', async () => {
  const gitea = await startGitea({ hostname: 'cnoe.localtest.me', apiPrefix: '/gitea' });
  try {
    await withHostsEntry(['cnoe.localtest.me'], () =>
      withTempDir(async (tmp) => {
        const store = join(tmp, 'store');
        await withCluster(clusterObjects(gitea, gitea.caPem, true), tmp, async (_kube, env) => {
          const r = await gantry(['build', app, '-t', 'routed:v1', '--idpbuilder'], { store, env });
          assert.equal(r.code, 0, r.stderr);
          assert.equal(gitea.host, `cnoe.localtest.me:${gitea.port}`);
          await tool('skopeo', [
            'inspect',
            '--cert-dir',
            gitea.certsDir,
            '--creds',
            `${gitea.username}:${gitea.token}`,
            `docker://${gitea.host}/giteaadmin/routed:v1`,
          ]);
          const list = await gantry(['catalog', '--idpbuilder', '--format', 'json'], { store, env });
          assert.equal(list.code, 0, list.stderr);
          assert.deepEqual(
            (JSON.parse(list.stdout) as { name: string }[]).map((p) => p.name),
            [`${gitea.host}/giteaadmin/routed`],
          );
          assert.ok(gitea.requests.some((q) => q.path.startsWith('/gitea/api/v1/packages/giteaadmin?')));

          // Gitea has no referrers API: the push's SBOM and provenance (on by default) go under the
          // sha256-<hex> tag, which Gitea keeps as a package version. gantry's listings leave it out
          // (--all shows it).
          assert.ok(gitea.packages.some((p) => /^sha256-[a-f0-9]{64}$/.test(p.version)));
          const hidden = await gantry(['catalog', '--idpbuilder', '--format', 'json'], { store, env });
          assert.deepEqual(
            (JSON.parse(hidden.stdout) as { tag: string }[]).map((p) => p.tag),
            ['v1'],
          );
          const shown = await gantry(['catalog', '--idpbuilder', '--format', 'json', '--all'], { store, env });
          assert.equal((JSON.parse(shown.stdout) as unknown[]).length, 2);
          const tags = await gantry(['tags', `${gitea.host}/giteaadmin/routed`], { store, env });
          assert.deepEqual(tags.stdout.trim().split('\n'), ['v1']);
        });
      }),
    );
  } finally {
    await gitea.stop();
  }
});

test('idpbuilder: discovery errors are one line that says what to do (stand-in API server)', async (t) => {
  const gitea = await startGitea();
  try {
    await withTempDir(async (tmp) => {
      const store = join(tmp, 'store');
      const build = (env: NodeJS.ProcessEnv) =>
        gantry(['build', app, '-t', 'myapp:v1', '--idpbuilder'], { store, env });

      await t.test('no kubeconfig', async () => {
        const r = await build(await isolatedEnv(tmp, undefined));
        assert.equal(r.code, 1);
        assert.match(oneLine(r.stderr), /^gantry: error: no kubeconfig: .*is the idpbuilder cluster running\?/);
      });

      await t.test('cluster unreachable', async () => {
        const port = await freePort();
        const file = join(tmp, 'unreachable');
        await writeFile(
          file,
          JSON.stringify({
            apiVersion: 'v1',
            kind: 'Config',
            clusters: [
              { name: 'c', cluster: { server: `https://127.0.0.1:${port}`, 'insecure-skip-tls-verify': true } },
            ],
            users: [{ name: 'u', user: { token: 't' } }],
            contexts: [{ name: 'kind-localdev', context: { cluster: 'c', user: 'u' } }],
            'current-context': 'kind-localdev',
          }),
        );
        const r = await build(await isolatedEnv(tmp, file));
        assert.equal(r.code, 4, r.stderr);
        assert.match(
          oneLine(r.stderr),
          /cannot reach the Kubernetes API at https:\/\/127\.0\.0\.1:\d+.*is the idpbuilder cluster running\?/,
        );
      });

      await t.test('--kube-context naming no context', async () => {
        await withCluster(clusterObjects(gitea), tmp, async (_kube, env) => {
          const r = await gantry(['--kube-context', 'nope', 'build', app, '-t', 'a:1', '--idpbuilder'], { store, env });
          assert.equal(r.code, 2);
          assert.match(oneLine(r.stderr), /has no context nope: pick one of: kind-localdev/);
        });
      });

      await t.test('a token the API server refuses', async () => {
        const kube = await startKubeApi(clusterObjects(gitea));
        try {
          const file = await kube.kubeconfig(join(tmp, 'badtoken'), { token: 'wrong' });
          const r = await build(await isolatedEnv(tmp, file));
          assert.equal(r.code, 3, r.stderr);
          assert.match(oneLine(r.stderr), /refused the kubeconfig's credentials/);
        } finally {
          await kube.stop();
        }
      });

      await t.test('secret forbidden names the secret and the RBAC verb', async () => {
        const objects = { ...clusterObjects(gitea), forbidden: ['/api/v1/namespaces/gitea/secrets/gitea-credential'] };
        await withCluster(objects, tmp, async (_kube, env) => {
          const r = await build(env);
          assert.equal(r.code, 3, r.stderr);
          const line = oneLine(r.stderr);
          assert.match(line, /forbidden to get secret gitea\/gitea-credential/);
          assert.match(line, /RBAC verb "get" on secrets in namespace gitea/);
        });
      });

      await t.test('secret missing', async () => {
        const objects = clusterObjects(gitea);
        const { 'gitea/gitea-credential': _, ...secrets } = objects.secrets ?? {};
        await withCluster({ ...objects, secrets }, tmp, async (_kube, env) => {
          const r = await build(env);
          assert.equal(r.code, 1);
          assert.match(oneLine(r.stderr), /secret gitea\/gitea-credential not found/);
        });
      });

      await t.test('CA missing', async () => {
        const objects = clusterObjects(gitea);
        const { 'ingress-nginx/idpbuilder-cert': _, ...secrets } = objects.secrets ?? {};
        await withCluster({ ...objects, secrets }, tmp, async (_kube, env) => {
          const r = await build(env);
          assert.equal(r.code, 1);
          assert.match(
            oneLine(r.stderr),
            /no CA for the cluster's Gitea: no secret ingress-nginx\/idpbuilder-cert, no config map default\/idpbuilder-cert, no secret default\/idpbuilder-cert: /,
          );
        });
      });
    });
  } finally {
    await gitea.stop();
  }
});
