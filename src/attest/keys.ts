/**
 * Signing keys: ECDSA P-256, as cosign makes them. A key is named by a file path or `env://VAR`
 * (the PEM in an environment variable). Private keys are read as PKCS#8 (`PRIVATE KEY`) or SEC1
 * (`EC PRIVATE KEY`) PEM; cosign's own encrypted format (scrypt + NaCl secretbox) is refused with
 * the command that converts it, as neither Node nor the sigstore packages read it. Public keys are
 * SPKI PEM (`PUBLIC KEY`), what `cosign generate-key-pair` writes to cosign.pub.
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { GantryError } from '../errors.js';

function keyError(code: string, message: string, suggestion: string): GantryError {
  return new GantryError(code, message, { phase: 'supply', suggestion });
}

/** The PEM text a key name points to. */
export async function readKeyText(name: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  if (name.startsWith('env://')) {
    const variable = name.slice('env://'.length);
    const value = env[variable];
    if (value === undefined || value.trim() === '') {
      throw keyError(
        'KEY_NOT_FOUND',
        `the environment variable ${variable} is not set`,
        `export ${variable} with the PEM of the key`,
      );
    }
    return value;
  }
  try {
    return await readFile(name, 'utf8');
  } catch (err) {
    throw keyError(
      'KEY_NOT_FOUND',
      `cannot read the key file ${name}: ${(err as Error).message}`,
      'give a PEM file or env://VAR',
    );
  }
}

function checkCurve(key: KeyObject, name: string): KeyObject {
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw keyError(
      'KEY_UNSUPPORTED',
      `${name} is a ${key.asymmetricKeyType ?? 'unknown'} key${key.asymmetricKeyDetails?.namedCurve ? ` on ${key.asymmetricKeyDetails.namedCurve}` : ''}, not ECDSA P-256`,
      'make one with `openssl ecparam -name prime256v1 -genkey | openssl pkcs8 -topk8 -nocrypt` (cosign keys are P-256)',
    );
  }
  return key;
}

export async function loadPrivateKey(name: string, env: NodeJS.ProcessEnv = process.env): Promise<KeyObject> {
  const text = await readKeyText(name, env);
  if (/-----BEGIN ENCRYPTED (SIGSTORE|COSIGN) PRIVATE KEY-----/.test(text)) {
    throw keyError(
      'KEY_UNSUPPORTED',
      `${name} is a cosign-encrypted private key, which gantry does not decrypt`,
      'sign with an unencrypted PKCS#8 PEM P-256 key (`openssl ecparam -name prime256v1 -genkey | openssl pkcs8 -topk8 -nocrypt`); cosign verifies it with --key and its public half',
    );
  }
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----/.test(text)) {
    throw keyError(
      'KEY_UNSUPPORTED',
      `${name} is a password-protected PKCS#8 key`,
      'decrypt it with `openssl pkcs8 -in KEY -out PLAIN.pem`',
    );
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: text, format: 'pem' });
  } catch (err) {
    throw keyError(
      'KEY_INVALID',
      `${name} is not a PEM private key: ${(err as Error).message}`,
      'give a PKCS#8 (PRIVATE KEY) or SEC1 (EC PRIVATE KEY) PEM',
    );
  }
  return checkCurve(key, name);
}

/** A public key, or the public half of a private key. */
export async function loadPublicKey(name: string, env: NodeJS.ProcessEnv = process.env): Promise<KeyObject> {
  const text = await readKeyText(name, env);
  let key: KeyObject;
  try {
    key = createPublicKey({ key: text, format: 'pem' });
  } catch (err) {
    throw keyError(
      'KEY_INVALID',
      `${name} is not a PEM public key: ${(err as Error).message}`,
      'give the SPKI PEM (PUBLIC KEY), e.g. cosign.pub',
    );
  }
  return checkCurve(key, name);
}
