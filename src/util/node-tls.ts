import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { SecureContext, SecureContextOptions } from 'node:tls';

const require = createRequire(import.meta.url);
let tls: typeof import('node:tls') | undefined;
let https: typeof import('node:https') | undefined;

/**
 * node:tls, loaded through require on first use. An ES import of it (even of one name) builds its
 * ES module facade, which reads every export, `rootCertificates` included: a getter that parses
 * Node's ~140 root certificates (30-90 ms of CPU) on every start, whether anything uses TLS or
 * not. And loading it at all costs ~5 ms that a plain-HTTP or offline command need not pay.
 */
export function nodeTls(): typeof import('node:tls') {
  if (tls === undefined) {
    tls = require('node:tls') as typeof import('node:tls');
    trustHostCas();
  }
  return tls;
}

/** node:https (which loads node:tls), on first use: see nodeTls. */
export function nodeHttps(): typeof import('node:https') {
  nodeTls();
  https ??= require('node:https') as typeof import('node:https');
  return https;
}

/** Where bin/gantry.js notes the NODE_EXTRA_CA_CERTS file Node did not load (see bin/gantry). */
const DEFERRED = Symbol.for('gantry.deferredExtraCaCerts');

/** The options of tls.createSecureContext: a context is shared only between equal values of these. */
const CONTEXT_OPTIONS = [
  'allowPartialTrustChain',
  'cert',
  'ciphers',
  'clientCertEngine',
  'crl',
  'dhparam',
  'ecdhCurve',
  'honorCipherOrder',
  'key',
  'maxVersion',
  'minVersion',
  'passphrase',
  'pfx',
  'privateKeyEngine',
  'privateKeyIdentifier',
  'secureOptions',
  'secureProtocol',
  'sessionIdContext',
  'sessionTimeout',
  'sigalgs',
  'ticketKeys',
] as const;

/**
 * Trusts the certificates of the host's NODE_EXTRA_CA_CERTS where the gantry command kept them from
 * Node's start (bin/gantry: parsing them there costs every run 40-50 ms, TLS or not). From then on
 * a TLS context made without `ca` trusts Node's roots (bundled or the system's, as Node is set up)
 * and those certificates, as Node's default would; one made with `ca` trusts only that, as in
 * Node, where `ca` replaces both. Contexts with the same settings are made once and shared, as Node
 * shares its root store. Runs once, where gantry first uses TLS (nodeTls) and before code that
 * reaches TLS on its own (fetch, the Kubernetes client); a no-op when Node loaded the variable.
 */
export function trustHostCas(): void {
  const g = globalThis as unknown as Record<symbol, unknown>;
  const file = g[DEFERRED];
  if (typeof file !== 'string') return;
  delete g[DEFERRED];
  tls ??= require('node:tls') as typeof import('node:tls');
  const make = tls.createSecureContext;
  let extra: string | undefined;
  const shared = new Map<string, SecureContext>();
  tls.createSecureContext = (options?: SecureContextOptions): SecureContext => {
    if (options?.ca !== undefined) return make(options);
    extra ??= extraCertificates(file);
    if (extra === '') return make(options);
    const key = contextKey(options);
    const known = key === undefined ? undefined : shared.get(key);
    if (known !== undefined) return known;
    const context = make(options);
    // Node's own way in (every certificate of the PEM text): the context copies its root store
    // before the first one it adds.
    (context as unknown as { context: { addCACert(pem: string): void } }).context.addCACert(extra);
    if (key !== undefined) shared.set(key, context);
    return context;
  };
}

/** The context settings of `options` as a key, or undefined when one is not a plain value. */
function contextKey(options: SecureContextOptions | undefined): string | undefined {
  const values: unknown[] = [];
  for (const name of CONTEXT_OPTIONS) {
    const value = (options as Record<string, unknown> | undefined)?.[name];
    if ((typeof value === 'object' && value !== null) || typeof value === 'function') return undefined;
    values.push(value ?? null);
  }
  return JSON.stringify(values);
}

/** The PEM text of `file` ('' for none); a file that cannot be read is ignored with a warning, as Node does. */
function extraCertificates(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    process.emitWarning(`Ignoring extra certs from \`${file}\`, load failed: ${(err as Error).message}`);
    return '';
  }
  if (text.includes('-----BEGIN CERTIFICATE-----')) return text;
  process.emitWarning(`Ignoring extra certs from \`${file}\`, load failed: no certificate in it`);
  return '';
}
