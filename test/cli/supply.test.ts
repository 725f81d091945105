// The supply chain end to end through the real binary: SBOM and provenance pushed as referrers to
// the loopback distribution 2.8 (no referrers API, so the sha256-<hex> tag schema holds them) and
// read back by skopeo, `gantry referrers` and `gantry sbom`; cosign-style signatures checked by
// gantry verify and by openssl; an OCI layout output with its SBOM beside the image; and the scan
// hand-off to a stand-in scanner that records what it was given.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { debianImage } from '../harness/debian.js';
import { startRegistry, type TestRegistry } from '../harness/registry.js';
import { gantry, isolatedHome, repoRoot, run, tool, withTempDir } from './helpers.js';

const example = join(repoRoot, 'examples', 'hello');

interface RawManifest {
  mediaType?: string;
  artifactType?: string;
  subject?: { digest: string };
  config: { mediaType: string; digest: string };
  layers: { mediaType: string; digest: string; annotations?: Record<string, string> }[];
  manifests?: { digest: string; artifactType?: string }[];
}

async function skopeoRaw(ref: string): Promise<RawManifest> {
  return JSON.parse(await tool('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${ref}`])) as RawManifest;
}

async function blob(registry: TestRegistry, repo: string, digest: string): Promise<Buffer> {
  const res = await fetch(`${registry.url}/v2/${repo}/blobs/${digest}`);
  assert.equal(res.status, 200, `blob ${digest}`);
  return Buffer.from(await res.arrayBuffer());
}

interface SbomDoc {
  components: { version?: string; purl?: string; properties?: { name: string; value: string }[] }[];
  compositions?: { aggregate: string; assemblies: string[] }[];
}

function tagOf(digest: string): string {
  return digest.replace(':', '-');
}

test('build --push attaches an SBOM and provenance that skopeo, gantry referrers and gantry sbom read through the tag-schema fallback; a build on it in a fresh store takes the base packages from that SBOM and downloads no base layer', {
  timeout: 300_000,
}, async () => {
  const fixture = await debianImage();
  const registry = await startRegistry({ mode: 'http' });
  try {
    await withTempDir(async (tmp) => {
      const env = await isolatedHome(tmp);
      const store = join(tmp, 'store');
      assert.equal((await gantry(['load', fixture.layoutDir, '-t', 'debian:fixture'], { store, env })).code, 0);
      const context = join(tmp, 'ctx');
      await mkdir(context);
      const dockerfile = 'FROM debian:fixture\nARG FOO\nARG API_TOKEN\nCOPY a.txt /a.txt\n';
      await writeFile(join(context, 'Dockerfile'), dockerfile);
      await writeFile(join(context, 'a.txt'), 'a\n');
      const ref = `${registry.host}/app:1`;
      const sbomFile = join(tmp, 'sbom.json');
      const r = await gantry(
        [
          'build',
          context,
          '-t',
          ref,
          '--push',
          '--provenance=mode=max',
          '--build-arg',
          'FOO=bar',
          '--build-arg',
          'API_TOKEN=s3cret',
          '--sbom-output',
          sbomFile,
        ],
        { store, env },
      );
      assert.equal(r.code, 0, r.stderr);
      const digest = r.stdout.trim().split('@')[1] as string;

      // distribution 2.8 has no referrers API: the sha256-<hex> tag holds an index of both.
      const index = await skopeoRaw(`${registry.host}/app:${tagOf(digest)}`);
      assert.deepEqual(index.manifests?.map((m) => m.artifactType).sort(), [
        'application/vnd.cyclonedx+json',
        'application/vnd.in-toto+json',
      ]);
      for (const m of index.manifests ?? []) {
        const raw = await skopeoRaw(`${registry.host}/app@${m.digest}`);
        assert.equal(raw.subject?.digest, digest);
        assert.equal(raw.artifactType, m.artifactType);
        assert.equal(raw.config.mediaType, 'application/vnd.oci.empty.v1+json');
      }

      // Listings leave the fallback tag out: it holds artifacts, not an image.
      const tags = await gantry(['tags', `${registry.host}/app`], { store, env });
      assert.deepEqual(tags.stdout.trim().split('\n'), ['1']);
      const all = await gantry(['tags', '--all', `${registry.host}/app`], { store, env });
      assert.deepEqual(all.stdout.trim().split('\n').sort(), ['1', tagOf(digest)]);

      const listed = await gantry(['referrers', ref, '--json'], { store, env });
      assert.equal(listed.code, 0, listed.stderr);
      const referrers = JSON.parse(listed.stdout) as { subject: string; artifactType: string; digest: string }[];
      assert.equal(referrers.length, 2);
      assert.ok(referrers.every((x) => x.subject === digest));
      const discover = await gantry(['discover', ref], { store, env });
      assert.match(discover.stdout, /application\/vnd\.in-toto\+json/);

      // gantry sbom reads the attached SBOM: the Debian packages and the base by digest.
      const printed = await gantry(['sbom', ref], { store, env });
      assert.equal(printed.code, 0, printed.stderr);
      assert.equal(
        printed.stdout,
        await readFile(sbomFile, 'utf8'),
        'the attached SBOM is the one --sbom-output wrote',
      );
      const doc = JSON.parse(printed.stdout) as {
        metadata: { component: { version: string }; properties: { name: string; value: string }[] };
        components: { name: string; purl?: string }[];
      };
      assert.equal(doc.metadata.component.version, digest);
      const props = Object.fromEntries(doc.metadata.properties.map((p) => [p.name, p.value]));
      assert.equal(props['org.opencontainers.image.base.digest'], fixture.digest);
      assert.equal(props['org.opencontainers.image.base.name'], 'debian:fixture');
      assert.ok(doc.components.some((c) => c.purl?.startsWith('pkg:deb/debian/bash@')));

      // The provenance statement: exact inputs, build args in max mode with the credential redacted.
      const prov = index.manifests?.find((m) => m.artifactType === 'application/vnd.in-toto+json');
      const provManifest = await skopeoRaw(`${registry.host}/app@${prov?.digest}`);
      const statement = JSON.parse(
        (await blob(registry, 'app', provManifest.layers[0]?.digest as string)).toString('utf8'),
      ) as {
        _type: string;
        predicateType: string;
        subject: { digest: { sha256: string } }[];
        predicate: {
          buildDefinition: {
            externalParameters: { buildArgs?: Record<string, string> };
            resolvedDependencies: { uri: string; digest: { sha256: string } }[];
          };
          runDetails: { builder: { id: string }; metadata: { startedOn: string; finishedOn: string } };
        };
      };
      assert.equal(statement._type, 'https://in-toto.io/Statement/v1');
      assert.equal(statement.predicateType, 'https://slsa.dev/provenance/v1');
      assert.equal(`sha256:${statement.subject[0]?.digest.sha256}`, digest);
      assert.deepEqual(statement.predicate.buildDefinition.externalParameters.buildArgs, {
        API_TOKEN: '<redacted>',
        FOO: 'bar',
      });
      const deps = statement.predicate.buildDefinition.resolvedDependencies;
      const sha = createHash('sha256').update(dockerfile).digest('hex');
      assert.equal(deps.find((d) => d.uri === 'dockerfile')?.digest.sha256, sha);
      assert.match(deps.find((d) => d.uri === 'context')?.digest.sha256 ?? '', /^[0-9a-f]{64}$/);
      assert.equal(deps.find((d) => d.uri.startsWith('pkg:docker/'))?.digest.sha256, fixture.digest.slice(7));
      const { startedOn, finishedOn } = statement.predicate.runDetails.metadata;
      assert.ok(Date.parse(startedOn) <= Date.parse(finishedOn));
      assert.doesNotMatch(JSON.stringify(statement), /s3cret/);

      // On by default for a push. A fresh store builds on app:1 (its layers stay in the registry):
      // the base's packages come from app:1's SBOM referrer, and no base layer is downloaded.
      const baseLayers = (await skopeoRaw(ref)).layers.map((l) => l.digest);
      const fresh = join(tmp, 'fresh');
      const onApp = join(tmp, 'on-app');
      await mkdir(onApp);
      await writeFile(join(onApp, 'Dockerfile'), `FROM ${ref}\nCOPY --link b.txt /b.txt\n`);
      await writeFile(join(onApp, 'b.txt'), 'b\n');
      const sbomOf = async (image: string) => {
        const d = await skopeoRaw(`${image.replace(/:[^:/]+$/, '')}:${tagOf(await pushedDigest(image))}`);
        // The newest: a push of the same digest again appends to the tag-schema index.
        const m = d.manifests?.filter((x) => x.artifactType === 'application/vnd.cyclonedx+json').at(-1);
        assert.ok(m, `${image} has an SBOM referrer`);
        assert.ok(
          d.manifests?.some((x) => x.artifactType === 'application/vnd.in-toto+json'),
          'and provenance',
        );
        const art = await skopeoRaw(`${image.replace(/:[^:/]+$/, '')}@${m.digest}`);
        const repo = image.slice(registry.host.length + 1).replace(/:[^:/]+$/, '');
        return {
          digest: m.digest,
          doc: JSON.parse((await blob(registry, repo, art.layers[0]?.digest as string)).toString('utf8')) as SbomDoc,
        };
      };
      const pushedDigest = async (image: string) =>
        JSON.parse(await tool('skopeo', ['inspect', '--tls-verify=false', `docker://${image}`])).Digest as string;
      const onAppRef = `${registry.host}/on-app:1`;
      const built = await gantry(['build', onApp, '-t', onAppRef, '--push'], { store: fresh, env });
      assert.equal(built.code, 0, built.stderr);
      assert.doesNotMatch(built.stderr, /does not list/, 'no note: the base has an SBOM');
      assert.match(built.stderr, /SBOM: read 1 of 3 layers \(the others: the base's from its SBOM [0-9a-f]{12}\)/);
      const storedBlobs = async () => readdir(join(fresh, 'blobs', 'sha256')).catch(() => [] as string[]);
      for (const l of baseLayers)
        assert.ok(!(await storedBlobs()).includes(l.slice(7)), `base layer ${l} not downloaded`);
      const appSbom = await sbomOf(ref);
      const onAppSbom = (await sbomOf(onAppRef)).doc;
      const base = onAppSbom.components.find((c) => c.version === digest);
      assert.equal(base?.properties?.find((p) => p.name === 'gantry:sbom:source')?.value, appSbom.digest);
      assert.deepEqual(
        onAppSbom.components
          .map((c) => c.purl)
          .filter(Boolean)
          .sort(),
        appSbom.doc.components
          .map((c) => c.purl)
          .filter(Boolean)
          .sort(),
        "the base's packages, from its SBOM",
      );
      assert.equal(onAppSbom.compositions, undefined);

      // A base without an SBOM (gantry push makes none): its contents are marked unknown, with one
      // note saying how to get them; --sbom=full reads (downloads) its layers instead.
      const plainRef = `${registry.host}/plain:1`;
      assert.equal((await gantry(['push', 'debian:fixture', plainRef], { store, env })).code, 0);
      await writeFile(join(onApp, 'Dockerfile'), `FROM ${plainRef}\nCOPY --link b.txt /b.txt\n`);
      const unknownRef = `${registry.host}/on-plain:1`;
      const unknown = await gantry(['build', onApp, '-t', unknownRef, '--push'], { store: fresh, env });
      assert.equal(unknown.code, 0, unknown.stderr);
      assert.equal(unknown.stderr.match(/SBOM does not list the contents of/g)?.length, 1, unknown.stderr);
      assert.match(unknown.stderr, /--sbom=full/);
      for (const l of baseLayers)
        assert.ok(!(await storedBlobs()).includes(l.slice(7)), `base layer ${l} not downloaded`);
      const unknownSbom = (await sbomOf(unknownRef)).doc;
      assert.deepEqual(unknownSbom.compositions?.find((c) => c.aggregate === 'unknown')?.assemblies, [
        `base:${fixture.digest}`,
      ]);
      assert.ok(!unknownSbom.components.some((c) => c.purl?.startsWith('pkg:deb/')));
      const full = await gantry(['build', onApp, '-t', unknownRef, '--push', '--sbom=full'], { store: fresh, env });
      assert.equal(full.code, 0, full.stderr);
      const fullSbom = (await sbomOf(unknownRef)).doc;
      assert.equal(fullSbom.compositions, undefined);
      assert.ok(fullSbom.components.some((c) => c.purl?.startsWith('pkg:deb/debian/bash@')));
    });
  } finally {
    await registry.stop();
  }
});

test('sign makes cosign signatures that gantry verify and openssl accept; verify refuses a changed image, a moved signature and another key', {
  timeout: 180_000,
}, async () => {
  const registry = await startRegistry({ mode: 'http' });
  try {
    await withTempDir(async (tmp) => {
      const env = await isolatedHome(tmp);
      const store = join(tmp, 'store');
      const key = (name: string) => join(tmp, name);
      await tool('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key('ec.pem')]);
      await tool('openssl', ['pkcs8', '-topk8', '-nocrypt', '-in', key('ec.pem'), '-out', key('cosign.key')]);
      await tool('openssl', ['ec', '-in', key('ec.pem'), '-pubout', '-out', key('cosign.pub')]);
      await tool('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key('other.pem')]);
      await tool('openssl', ['ec', '-in', key('other.pem'), '-pubout', '-out', key('other.pub')]);
      const ref = `${registry.host}/signed:1`;
      const built = await gantry(['build', example, '-t', ref, '--push', '--sign-key', key('cosign.key')], {
        store,
        env,
      });
      assert.equal(built.code, 0, built.stderr);
      const digest = built.stdout.trim().split('@')[1] as string;

      // The classic form, read back by skopeo: simple-signing payload + signature annotation.
      const sig = await skopeoRaw(`${registry.host}/signed:${tagOf(digest)}.sig`);
      const layer = sig.layers[0];
      assert.equal(layer?.mediaType, 'application/vnd.dev.cosign.simplesigning.v1+json');
      const signature = layer?.annotations?.['dev.cosignproject.cosign/signature'] ?? '';
      const payload = await blob(registry, 'signed', layer?.digest as string);
      const claims = JSON.parse(payload.toString('utf8')) as {
        critical: { image: { 'docker-manifest-digest': string }; type: string };
      };
      assert.equal(claims.critical.image['docker-manifest-digest'], digest);
      // A second implementation: openssl checks the ECDSA signature over the payload bytes.
      await writeFile(join(tmp, 'payload'), payload);
      await writeFile(join(tmp, 'sig.der'), Buffer.from(signature, 'base64'));
      const ossl = await run('openssl', [
        'dgst',
        '-sha256',
        '-verify',
        key('cosign.pub'),
        '-signature',
        join(tmp, 'sig.der'),
        join(tmp, 'payload'),
      ]);
      assert.equal(ossl.stdout.trim(), 'Verified OK', ossl.stderr);

      // The newer form: a sigstore bundle v0.3 as a referrer (cosign --new-bundle-format).
      const bundled = await gantry(['sign', ref, '--key', key('cosign.key'), '--form', 'bundle'], { store, env });
      assert.equal(bundled.code, 0, bundled.stderr);
      const listed = (await skopeoRaw(`${registry.host}/signed:${tagOf(digest)}`)).manifests ?? [];
      assert.ok(listed.some((m) => m.artifactType === 'application/vnd.dev.sigstore.bundle.v0.3+json'));

      const ok = await gantry(['verify', ref, '--key', key('cosign.pub')], { store, env });
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal(ok.stdout.trim(), `${ref}@${digest}`);
      assert.match(ok.stderr, /verified 3 signature\(s\) \(tag, referrer, bundle\)/);
      // Keys from the environment.
      const pem = await readFile(key('cosign.pub'), 'utf8');
      const fromEnv = await gantry(['verify', ref, '--key', 'env://COSIGN_PUB'], {
        store,
        env: { ...env, COSIGN_PUB: pem },
      });
      assert.equal(fromEnv.code, 0, fromEnv.stderr);

      const wrongKey = await gantry(['verify', ref, '--key', key('other.pub')], { store, env });
      assert.equal(wrongKey.code, 1);
      assert.match(
        wrongKey.stderr,
        /^gantry: error: no signature of .* verifies \(3 checked: the signature does not verify with the key\)/,
      );
      assert.equal(wrongKey.stderr.trim().split('\n').length, 1);

      // Signing again with another key appends to the .sig tag instead of replacing it.
      const again = await gantry(['sign', ref, '--key', key('other.pem'), '--form', 'tag'], { store, env });
      assert.equal(again.code, 0, again.stderr);
      assert.equal((await skopeoRaw(`${registry.host}/signed:${tagOf(digest)}.sig`)).layers.length, 2);
      assert.equal((await gantry(['verify', ref, '--key', key('other.pub')], { store, env })).code, 0);

      // A changed image under the same tag has a new digest and no signature.
      const changed = await gantry(['build', example, '-t', ref, '--push', '--label', 'x=y'], { store, env });
      assert.equal(changed.code, 0, changed.stderr);
      const newDigest = changed.stdout.trim().split('@')[1] as string;
      assert.notEqual(newDigest, digest);
      const refused = await gantry(['verify', ref, '--key', key('cosign.pub')], { store, env });
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /has no signature/);

      // The old signatures moved onto the new digest's .sig tag: they name the old digest.
      const oldSig = await fetch(`${registry.url}/v2/signed/manifests/${tagOf(digest)}.sig`, {
        headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
      });
      const put = await fetch(`${registry.url}/v2/signed/manifests/${tagOf(newDigest)}.sig`, {
        method: 'PUT',
        headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
        body: Buffer.from(await oldSig.arrayBuffer()),
      });
      assert.equal(put.status, 201);
      const moved = await gantry(['verify', ref, '--key', key('cosign.pub')], { store, env });
      assert.equal(moved.code, 1);
      assert.match(moved.stderr, new RegExp(`the signature is for ${digest}, not ${newDigest}`));

      const badKey = await gantry(['sign', ref, '--key', key('cosign.pub')], { store, env });
      assert.equal(badKey.code, 1);
      assert.match(badKey.stderr, /is not a PEM private key/);
    });
  } finally {
    await registry.stop();
  }
});

test('an OCI layout output holds the SBOM beside the image, and gantry referrers and sbom find it there', async () => {
  await withTempDir(async (tmp) => {
    const env = await isolatedHome(tmp);
    const store = join(tmp, 'store');
    const out = join(tmp, 'layout');
    const r = await gantry(
      ['build', example, '-o', `type=oci,dest=${out},tar=false`, '--sbom', '--sbom-format', 'spdx'],
      {
        store,
        env,
      },
    );
    assert.equal(r.code, 0, r.stderr);
    const listed = await gantry(['referrers', `oci:${out}`], { store, env });
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /^sha256:[0-9a-f]{64} {2}application\/spdx\+json {2}sha256:/);
    const doc = JSON.parse((await gantry(['sbom', `oci:${out}`, '--format', 'spdx'], { store, env })).stdout) as {
      spdxVersion: string;
    };
    assert.equal(doc.spdxVersion, 'SPDX-2.3');
    // The image is still the one image of the layout for readers that skip artifacts.
    const inspect = await gantry(['inspect', `oci:${out}`], { store, env });
    assert.equal(inspect.code, 0, inspect.stderr);
    // Bad supply-chain flags are usage errors before any work.
    for (const [args, message] of [
      [['--sbom=maybe'], /invalid --sbom=maybe/],
      [['--provenance=mode=full'], /invalid --provenance=mode=full/],
      [['--sbom-format', 'swid'], /invalid --sbom-format swid/],
      [['--sign-key', join(tmp, 'k.pem')], /--sign-key signs what the build pushes/],
    ] as const) {
      const bad = await gantry(['build', example, '-o', `type=oci,dest=${join(tmp, 'never')}`, ...args], {
        store,
        env,
      });
      assert.equal(bad.code, 2, bad.stderr);
      assert.match(bad.stderr, message);
    }
  });
});

test('scan hands the SBOM or the layout to the scanner found, returns its exit code, and names the supported ones when none is installed', async () => {
  await withTempDir(async (tmp) => {
    const env = await isolatedHome(tmp);
    const store = join(tmp, 'store');
    assert.equal((await gantry(['build', example, '-t', 'hello:scan'], { store, env })).code, 0);
    const bin = join(tmp, 'bin');
    await mkdir(bin);
    const record = join(tmp, 'record');
    // A stand-in for grype/trivy: records its arguments and what the input holds, exits 3.
    const standIn = `#!/bin/sh
printf '%s\\n' "$@" > ${record}.args
for a in "$@"; do
  case "$a" in
    sbom:*) /bin/cp "\${a#sbom:}" ${record}.sbom ;;
  esac
  [ -d "$a" ] && /bin/ls "$a" > ${record}.ls
done
echo "scanned"
exit 3
`;
    await writeFile(join(bin, 'grype'), standIn);
    await chmod(join(bin, 'grype'), 0o755);
    const scanned = await gantry(['scan', 'store:hello:scan', '--', '--fail-on', 'high'], {
      store,
      env: { ...env, PATH: bin },
      node: true,
    });
    assert.equal(scanned.code, 3, scanned.stderr);
    assert.equal(scanned.stdout, 'scanned\n');
    const args = (await readFile(`${record}.args`, 'utf8')).trim().split('\n');
    assert.match(args[0] ?? '', /^sbom:.*\/sbom\.cdx\.json$/);
    assert.deepEqual(args.slice(1), ['--fail-on', 'high']);
    const sbom = JSON.parse(await readFile(`${record}.sbom`, 'utf8')) as { bomFormat: string };
    assert.equal(sbom.bomFormat, 'CycloneDX');

    await writeFile(join(tmp, 'trivy'), standIn);
    await chmod(join(tmp, 'trivy'), 0o755);
    const layout = await gantry(['scan', 'store:hello:scan', '--scanner', join(tmp, 'trivy'), '--input', 'layout'], {
      store,
      env: { ...env, PATH: join(tmp, 'empty') },
      node: true,
    });
    assert.equal(layout.code, 3, layout.stderr);
    const targs = (await readFile(`${record}.args`, 'utf8')).trim().split('\n');
    assert.deepEqual(targs.slice(0, 2), ['image', '--input']);
    assert.match(await readFile(`${record}.ls`, 'utf8'), /index\.json/);

    const none = await gantry(['scan', 'store:hello:scan'], {
      store,
      env: { ...env, PATH: join(tmp, 'empty') },
      node: true,
    });
    assert.equal(none.code, 1);
    assert.equal(
      none.stderr,
      'gantry: error: no vulnerability scanner found on PATH: install grype, trivy or osv-scanner (gantry supports these three), or give one with --scanner PATH\n',
    );
  });
});
