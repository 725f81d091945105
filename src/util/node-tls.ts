import { createRequire } from 'node:module';

/**
 * node:tls loaded through require. An ES import of it (even of one name) builds its ES module
 * facade, which reads every export, `rootCertificates` included: a getter that parses Node's
 * ~140 root certificates (30-90 ms of CPU) on every start, whether anything uses TLS or not.
 */
export const nodeTls = createRequire(import.meta.url)('node:tls') as typeof import('node:tls');
