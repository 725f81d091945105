/**
 * Bodies as the transport handles them, whichever connection carries them (node:http in http.ts,
 * a socket of its own in raw.ts): response headers flattened, text read with a limit, bodies
 * discarded; request bodies drained into the request without a copy.
 */
import type { Readable, Writable } from 'node:stream';
import type { SinkSource } from '../../oci/stream.js';

/** Bodies larger than this are dropped (socket closed) rather than drained by discard(). */
const DISCARD_DRAIN_LIMIT = 1024 * 1024;
export const DEFAULT_TEXT_LIMIT = 4 * 1024 * 1024;

export function flatHeaders(raw: readonly string[]): {
  headers: Record<string, string>;
  all: (name: string) => string[];
} {
  const multi = new Map<string, string[]>();
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    const value = raw[i + 1] as string;
    const list = multi.get(name);
    if (list) list.push(value);
    else multi.set(name, [value]);
  }
  const headers: Record<string, string> = {};
  for (const [name, values] of multi) {
    // Joining challenges or cookies with ', ' would make them ambiguous; see all().
    headers[name] = name === 'set-cookie' || name === 'www-authenticate' ? (values[0] as string) : values.join(', ');
  }
  return { headers, all: (name) => multi.get(name.toLowerCase()) ?? [] };
}

export async function readText(body: Readable, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const buf = chunk as Buffer;
    if (size + buf.length >= limit) {
      chunks.push(buf.subarray(0, limit - size));
      size = limit;
      body.destroy();
      break;
    }
    chunks.push(buf);
    size += buf.length;
  }
  return Buffer.concat(chunks).toString('utf8');
}

export async function discardBody(body: Readable, contentLength: string | undefined): Promise<void> {
  if (body.readableEnded || body.destroyed) return;
  const length = contentLength === undefined ? Number.NaN : Number(contentLength);
  if (!(length <= DISCARD_DRAIN_LIMIT)) {
    // Draining a blob to keep one socket would cost more than a new connection.
    body.destroy();
    return;
  }
  try {
    for await (const _ of body) {
      // drain
    }
  } catch {
    // A body that fails while being thrown away changes nothing for the caller.
  }
}

/**
 * Sends what `source` drains into `req`, each piece held until the socket took it (so the source
 * reads nothing into that memory meanwhile: no copy per piece), then ends the request. A failure
 * of the source itself goes to `onSourceError`; a failed write is the request's own error.
 */
export function sendDrained(source: SinkSource, req: Writable, onSourceError: (err: unknown) => void): void {
  let writeFailed = false;
  source
    .drainTo(
      (piece) =>
        new Promise<void>((resolve, reject) => {
          req.write(piece, (err) => {
            if (!err) resolve();
            else {
              writeFailed = true;
              reject(err);
            }
          });
        }),
    )
    .then(
      () => req.end(),
      (err: unknown) => {
        if (!writeFailed) onSourceError(err);
        req.destroy(err as Error);
      },
    );
}
