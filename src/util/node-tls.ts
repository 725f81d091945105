import { createRequire } from 'node:module';

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
  tls ??= require('node:tls') as typeof import('node:tls');
  return tls;
}

/** node:https (which loads node:tls), on first use: see nodeTls. */
export function nodeHttps(): typeof import('node:https') {
  https ??= require('node:https') as typeof import('node:https');
  return https;
}
