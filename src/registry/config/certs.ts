/**
 * docker's certs.d layout: DIR/HOST[:PORT]/ holds `*.crt` CA certificates and `*.cert` + `*.key`
 * client certificate pairs (same base name). Looked up in /etc/docker/certs.d,
 * ~/.docker/certs.d and /etc/containers/certs.d; CAs from every directory add up, the client
 * pair comes from the first directory that has one. A `.cert` without its `.key` (or the
 * reverse) is an error, as in docker: half a pair is always a mistake.
 */
import { readdir, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { GantryError, type IoOptions } from '../../errors.js';
import { normalizeRegistry } from '../auth/hosts.js';

export interface CertsForHost {
  readonly ca: readonly Buffer[];
  readonly clientCert?: { readonly cert: Buffer; readonly key: Buffer };
  /** The files they came from, for messages. */
  readonly files: readonly string[];
}

export function defaultCertsDirs(home: string = process.env.HOME || homedir()): string[] {
  return ['/etc/docker/certs.d', join(home, '.docker', 'certs.d'), '/etc/containers/certs.d'];
}

function certError(path: string, detail: string, suggestion: string, cause?: unknown): GantryError {
  return new GantryError('BAD_CONFIG', `${path}: ${detail}`, { phase: 'config', suggestion, cause });
}

/** Directory names a host may be filed under: as given, and Docker Hub by any of its names. */
function dirNames(host: string): string[] {
  const names = [host, host.toLowerCase(), normalizeRegistry(host)];
  return [...new Set(names)];
}

async function read(path: string, signal: AbortSignal | undefined): Promise<Buffer> {
  try {
    return await readFile(path, { signal });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ABORT_ERR') throw err;
    throw certError(path, `cannot read: ${(err as Error).message}`, 'make the file readable or remove it', err);
  }
}

export async function loadCertsFor(
  host: string,
  dirs: readonly string[],
  options: IoOptions = {},
): Promise<CertsForHost> {
  const ca: Buffer[] = [];
  const files: string[] = [];
  let clientCert: { cert: Buffer; key: Buffer } | undefined;
  for (const root of dirs) {
    for (const name of dirNames(host)) {
      const dir = join(root, name);
      let entries: string[];
      try {
        entries = (await readdir(dir)).sort();
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ENOTDIR') continue;
        throw certError(dir, `cannot read: ${(err as Error).message}`, 'make the directory readable or remove it', err);
      }
      for (const entry of entries) {
        const path = join(dir, entry);
        if (entry.endsWith('.crt')) {
          const pem = await read(path, options.signal);
          if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
            throw certError(path, 'holds no PEM certificate', 'a .crt in certs.d must be a PEM CA certificate');
          }
          ca.push(pem);
          files.push(path);
        } else if (entry.endsWith('.cert')) {
          const keyName = `${entry.slice(0, -'.cert'.length)}.key`;
          if (!entries.includes(keyName)) {
            throw certError(
              path,
              `client certificate without its key ${keyName}`,
              `add ${keyName} beside it or remove it`,
            );
          }
          if (clientCert === undefined) {
            const keyPath = join(dir, keyName);
            clientCert = { cert: await read(path, options.signal), key: await read(keyPath, options.signal) };
            files.push(path, keyPath);
          }
        } else if (entry.endsWith('.key')) {
          const certName = `${entry.slice(0, -'.key'.length)}.cert`;
          if (!entries.includes(certName)) {
            throw certError(
              path,
              `client key without its certificate ${certName}`,
              `add ${certName} beside it or remove it`,
            );
          }
        }
      }
    }
  }
  return clientCert === undefined ? { ca, files } : { ca, clientCert, files };
}
