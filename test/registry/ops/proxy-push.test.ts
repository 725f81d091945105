// A push through a loopback forward proxy to a registry name that only the proxy resolves
// (registry.proxy-only.test:PORT -> 127.0.0.1:PORT): over plain HTTP (absolute-form requests) and
// over TLS (a CONNECT tunnel, the certificate verified against that name). skopeo then reads the
// image straight from the registry with the same digest.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { ImageIndex } from '../../../src/oci/image.js';
import { OciLayout } from '../../../src/oci/layout.js';
import type { Reference } from '../../../src/reference/index.js';
import { RegistryClient } from '../../../src/registry/client/client.js';
import { pushImage } from '../../../src/registry/ops/push.js';
import { proxyFromEnv } from '../../../src/registry/transport/proxy.js';
import type { HostSettings } from '../../../src/registry/transport/types.js';
import { type BusyboxImage, busyboxImage } from '../../harness/fixtures.js';
import { type ForwardProxy, startForwardProxy } from '../../harness/forward-proxy.js';
import { startRegistry, type TestRegistry } from '../../harness/registry.js';
import { skopeoInspectRaw, transportFor } from '../../harness/validate.js';

const NAME = 'registry.proxy-only.test';

let fixture: BusyboxImage;
before(async () => {
  fixture = await busyboxImage();
});

async function fixtureIndex(): Promise<ImageIndex> {
  const layout = await OciLayout.open(fixture.layoutDir);
  const entry = (await layout.readIndex()).manifests.find(
    (d) => d.annotations?.['org.opencontainers.image.ref.name'] === fixture.tag,
  );
  assert.ok(entry, 'the fixture names busybox');
  return layout.imageIndex(entry);
}

for (const mode of ['http', 'tls'] as const) {
  describe(`push through a forward proxy (${mode})`, () => {
    let reg: TestRegistry;
    let proxy: ForwardProxy;
    let host: string;
    before(async () => {
      reg = await startRegistry({ mode, dnsNames: [NAME] });
      host = `${NAME}:${reg.host.split(':')[1]}`;
      proxy = await startForwardProxy({ hosts: { [host]: reg.host } });
    });
    after(async () => {
      await proxy?.close();
      await reg?.stop();
    });

    test(`a push to ${NAME} succeeds through the proxy and skopeo reads it back`, async () => {
      const ca = reg.caFile ? readFileSync(reg.caFile) : undefined;
      const hostSettings = (h: string): HostSettings =>
        h === host ? (mode === 'http' ? { plainHttp: true } : { ca: [ca as Buffer] }) : {};
      const client = new RegistryClient({
        transport: {
          keychain: { resolve: async () => undefined },
          hostSettings,
          proxy: proxyFromEnv({ HTTP_PROXY: proxy.url, HTTPS_PROXY: proxy.url }),
          retry: { baseDelayMs: 10, maxDelayMs: 200 },
        },
      });
      const ref: Reference = { registry: host, repository: 'proxied/busybox', tag: 'v1' };
      const desc = await pushImage(client, ref, await fixtureIndex());
      assert.equal(desc.digest, fixture.indexDigest);
      const raw = await skopeoInspectRaw(`docker://${reg.host}/proxied/busybox:v1`, transportFor(reg));
      assert.equal(raw.digest, fixture.indexDigest);
      if (mode === 'tls') {
        assert.ok(proxy.seen.length > 0 && proxy.seen.every((s) => s.method === 'CONNECT' && s.target === host));
      } else {
        assert.ok(
          proxy.seen.some((s) => s.method === 'PUT' && s.target.startsWith(`http://${host}/v2/proxied/busybox/`)),
        );
        // Every request named the registry by the proxy-only name (404s are the blob existence checks).
        assert.ok(proxy.seen.every((s) => s.target.startsWith(`http://${host}/`) && s.status < 500));
      }
    });
  });
}
