/**
 * The deflate worker: compresses one block at a time as raw deflate primed with the previous
 * block's tail, and checksums it. Only the pool in ./pool.ts starts this file.
 */
import { parentPort } from 'node:worker_threads';
import * as zlib from 'node:zlib';
import { crc32 } from './crc32.js';
import type { DeflateReply, DeflateRequest } from './protocol.js';

/**
 * Room for deflate's worst case (a block's length plus about 0.03%, and the flush marker), so
 * zlib writes one output chunk that can be transferred as it is: no concatenation, no copy,
 * and no per-block garbage left in this thread.
 */
function outputRoom(length: number): number {
  return length + 4096;
}

function compress(request: DeflateRequest): { output: ArrayBuffer; outputLength: number; crc: number } {
  const data = new Uint8Array(request.buffer, request.dataOffset, request.length);
  const chunkSize = outputRoom(request.length);
  const options: zlib.ZlibOptions = {
    level: request.level,
    chunkSize,
    // A sync flush ends the block on a byte boundary without ending the stream, so the next
    // block's bytes can follow it directly (pigz's layout).
    finishFlush: request.last ? zlib.constants.Z_FINISH : zlib.constants.Z_SYNC_FLUSH,
  };
  if (request.dictionaryLength > 0) {
    options.dictionary = new Uint8Array(
      request.buffer,
      request.dataOffset - request.dictionaryLength,
      request.dictionaryLength,
    );
  }
  const deflated = zlib.deflateRawSync(data, options);
  const crc = crc32(data);
  // zlib's single output chunk is its own ArrayBuffer: hand it over whole.
  if (deflated.byteOffset === 0 && deflated.buffer.byteLength === chunkSize && deflated.buffer instanceof ArrayBuffer) {
    return { output: deflated.buffer, outputLength: deflated.length, crc };
  }
  const copy = new ArrayBuffer(deflated.length);
  new Uint8Array(copy).set(deflated);
  return { output: copy, outputLength: deflated.length, crc };
}

const port = parentPort;
if (port) {
  port.on('message', (request: DeflateRequest) => {
    let reply: DeflateReply;
    try {
      reply = { ok: true, ...compress(request), buffer: request.buffer };
    } catch (err) {
      reply = { ok: false, message: err instanceof Error ? err.message : String(err), buffer: request.buffer };
    }
    port.postMessage(reply, reply.ok ? [reply.output, reply.buffer] : [reply.buffer]);
  });
}
