// Key refusals, named after what they pin: only ECDSA P-256 signs, an encrypted key is refused with
// a way out (never read as garbage), env:// keys must be set, and a public key cannot sign.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkSignedPayload, signPayload, simpleSigningPayload } from '../../src/attest/cosign.js';
import { loadPrivateKey, loadPublicKey } from '../../src/attest/keys.js';
import { GantryError } from '../../src/errors.js';
import { withTempDir } from '../cli/helpers.js';

function code(err: unknown): string {
  assert.ok(GantryError.is(err), String(err));
  return err.code;
}

test('an RSA or P-384 key is refused for signing (cosign keys are P-256)', async () => {
  await withTempDir(async (dir) => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' });
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey.export({ type: 'pkcs8', format: 'pem' });
    await writeFile(join(dir, 'rsa.pem'), rsa);
    await writeFile(join(dir, 'p384.pem'), p384);
    await assert.rejects(loadPrivateKey(join(dir, 'rsa.pem')), (e) => code(e) === 'KEY_UNSUPPORTED');
    await assert.rejects(loadPrivateKey(join(dir, 'p384.pem')), /secp384r1, not ECDSA P-256/);
  });
});

test("cosign's encrypted private key and password-protected PKCS#8 are refused, not misread", async () => {
  const cosign =
    '-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\neyJrZGYiOnt9fQ==\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n';
  await assert.rejects(loadPrivateKey('env://K', { K: cosign }), /cosign-encrypted private key/);
  const encrypted = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({
    type: 'pkcs8',
    format: 'pem',
    cipher: 'aes-256-cbc',
    passphrase: 'x',
  });
  await assert.rejects(loadPrivateKey('env://K', { K: String(encrypted) }), /password-protected PKCS#8/);
});

test('an unset env:// key and a public key given to sign are clear errors', async () => {
  await assert.rejects(loadPrivateKey('env://NOPE', {}), (e) => code(e) === 'KEY_NOT_FOUND');
  const pub = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' });
  await assert.rejects(loadPrivateKey('env://K', { K: String(pub) }), (e) => code(e) === 'KEY_INVALID');
});

test('a signature verifies only over the payload naming the digest it was made for (SEC1 keys too)', async () => {
  const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const sec1 = String(pair.privateKey.export({ type: 'sec1', format: 'pem' }));
  const key = await loadPrivateKey('env://K', { K: sec1 });
  const pub = await loadPublicKey('env://P', { P: sec1 });
  const digest = `sha256:${'a'.repeat(64)}`;
  const payload = simpleSigningPayload('r.example/app', digest);
  const sig = signPayload(payload, key);
  assert.deepEqual(checkSignedPayload(payload, sig, digest, pub), { ok: true, repository: 'r.example/app' });
  assert.equal(checkSignedPayload(payload, sig, `sha256:${'b'.repeat(64)}`, pub).ok, false);
  const edited = Buffer.from(payload.toString().replace('r.example', 'evil.example'));
  assert.deepEqual(checkSignedPayload(edited, sig, digest, pub), {
    ok: false,
    reason: 'the signature does not verify with the key',
  });
});
