// The sigstore bundle form of a signature (bundle v0.3, a DSSE envelope over an in-toto statement
// naming the image digest), checked by hand against the spec: openssl verifies the signature over
// DSSE's pre-authentication encoding; a tampered statement, another image's bundle and another key
// are refused.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkBundle, preAuthEncoding, SIGSTORE_BUNDLE_MEDIA_TYPE, signBundle } from '../../src/attest/bundle.js';
import { withTempDir } from '../cli/helpers.js';

const digest = `sha256:${'ab'.repeat(32)}`;
const other = `sha256:${'cd'.repeat(32)}`;

interface Bundle {
  mediaType: string;
  verificationMaterial: { publicKey: { hint: string }; tlogEntries: unknown[] };
  dsseEnvelope: { payload: string; payloadType: string; signatures: { sig: string }[] };
}

test('a sigstore bundle: openssl verifies it over the DSSE PAE; a tampered statement, a moved bundle and another key are refused', async () => {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const publicKey = createPublicKey(privateKey);
  const bytes = signBundle('registry.example/app', digest, privateKey);
  const bundle = JSON.parse(bytes.toString('utf8')) as Bundle;
  assert.equal(bundle.mediaType, SIGSTORE_BUNDLE_MEDIA_TYPE);
  assert.equal(bundle.dsseEnvelope.payloadType, 'application/vnd.in-toto+json');
  const statement = JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString('utf8')) as {
    _type: string;
    subject: { name: string; digest: { sha256: string } }[];
    predicateType: string;
  };
  assert.equal(statement._type, 'https://in-toto.io/Statement/v1');
  assert.deepEqual(statement.subject, [{ name: 'registry.example/app', digest: { sha256: 'ab'.repeat(32) } }]);
  assert.equal(statement.predicateType, 'https://sigstore.dev/cosign/sign/v1');
  assert.deepEqual(checkBundle(bytes, digest, publicKey), { ok: true, repository: 'registry.example/app' });

  // A second implementation: openssl checks the signature over "DSSEv1 <len> <type> <len> <body>".
  await withTempDir(async (dir) => {
    const payload = Buffer.from(bundle.dsseEnvelope.payload, 'base64');
    await writeFile(join(dir, 'pae'), preAuthEncoding('application/vnd.in-toto+json', payload));
    assert.match(
      preAuthEncoding('application/vnd.in-toto+json', payload).toString('utf8'),
      new RegExp(`^DSSEv1 28 application/vnd\\.in-toto\\+json ${payload.length} \\{`),
    );
    await writeFile(join(dir, 'sig'), Buffer.from(bundle.dsseEnvelope.signatures[0]?.sig ?? '', 'base64'));
    await writeFile(join(dir, 'pub.pem'), publicKey.export({ type: 'spki', format: 'pem' }));
    const out = execFileSync('openssl', [
      'dgst',
      '-sha256',
      '-verify',
      join(dir, 'pub.pem'),
      '-signature',
      join(dir, 'sig'),
      join(dir, 'pae'),
    ]);
    assert.equal(out.toString().trim(), 'Verified OK');
  });

  // Tampered: the statement now names another image, the signature is the old one.
  const tampered = structuredClone(bundle);
  tampered.dsseEnvelope.payload = Buffer.from(
    Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString('utf8').replace('ab'.repeat(32), 'cd'.repeat(32)),
  ).toString('base64');
  assert.deepEqual(checkBundle(Buffer.from(JSON.stringify(tampered)), other, publicKey), {
    ok: false,
    reason: 'the signature does not verify with the key',
  });
  // A bundle moved to another image: valid signature, wrong subject.
  assert.deepEqual(checkBundle(bytes, other, publicKey), {
    ok: false,
    reason: `the signature is for ${digest}, not ${other}`,
  });
  const another = createPublicKey(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
  assert.equal(checkBundle(bytes, digest, another).ok, false);
  assert.deepEqual(checkBundle(Buffer.from('{"mediaType":"x"}'), digest, publicKey), {
    ok: false,
    reason: 'not a sigstore bundle',
  });
});
