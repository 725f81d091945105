/**
 * The deflate worker: compresses one block at a time as raw deflate primed with the previous
 * block's tail, and checksums it. Only the pool in ./pool.ts starts this file.
 */
import { parentPort } from 'node:worker_threads';
import * as zlib from 'node:zlib';
import { crc32 } from './crc32.js';
import { type DeflateReply, type DeflateRequest, transferable } from './protocol.js';
import { SEGMENT_SIZE, storedBlocks, storedSegments } from './stored.js';

/** deflate's window: how much of the bytes before a run primes it. */
const WINDOW = 32 * 1024;

/**
 * Room for deflate's worst case (a block's length plus about 0.03%, and the flush marker), so
 * zlib writes one output chunk that can be transferred as it is: no concatenation, no copy,
 * and no per-block garbage left in this thread.
 */
function outputRoom(length: number): number {
  return length + 4096;
}

type Compressed = { output: ArrayBuffer; outputLength: number; crc: number };

/** This worker's copy of shared blocks (see unshared). */
let local: ArrayBuffer | undefined;

/**
 * The request with its bytes (window and data) in memory of this worker's own. JIT-compiled
 * code reads shared memory more slowly (the classifier: ~15%), and V8 copies out of it with
 * relaxed atomics, a byte at a time when source and target are not aligned alike (a stored
 * block's 5-byte header: ~3 GB/s). One copy to the same offsets of a local buffer runs a word
 * at a time (~25 GB/s); everything after it reads plain memory.
 */
function unshared(request: DeflateRequest): DeflateRequest {
  const { buffer } = request;
  if (buffer instanceof ArrayBuffer) return request;
  if (local === undefined || local.byteLength < buffer.byteLength) local = new ArrayBuffer(buffer.byteLength);
  const start = request.dataOffset - request.dictionaryLength;
  const end = request.dataOffset + request.length;
  new Uint8Array(local, start, end - start).set(new Uint8Array(buffer, start, end - start));
  return { ...request, buffer: local };
}

function compress(shared: DeflateRequest): Compressed {
  const request = unshared(shared);
  const data = new Uint8Array(request.buffer, request.dataOffset, request.length);
  const crc = crc32(data);
  const stored =
    request.level === 0
      ? undefined
      : storedSegments(new Uint8Array(request.buffer), request.dataOffset, request.dictionaryLength, request.length);
  if (stored) return mixed(request, stored, crc);
  const chunkSize = outputRoom(request.length);
  const deflated = deflate(
    request,
    request.dataOffset,
    request.length,
    request.dictionaryLength,
    request.last,
    chunkSize,
  );
  // zlib's single output chunk is its own ArrayBuffer: hand it over whole.
  if (deflated.byteOffset === 0 && deflated.buffer.byteLength === chunkSize && deflated.buffer instanceof ArrayBuffer) {
    return { output: deflated.buffer, outputLength: deflated.length, crc };
  }
  const copy = new ArrayBuffer(deflated.length);
  new Uint8Array(copy).set(deflated);
  return { output: copy, outputLength: deflated.length, crc };
}

/** Raw deflate of `length` bytes at `offset`, primed with the `dictionaryLength` bytes before. */
function deflate(
  request: DeflateRequest,
  offset: number,
  length: number,
  dictionaryLength: number,
  finish: boolean,
  chunkSize: number,
): Buffer {
  const options: zlib.ZlibOptions = {
    level: request.level,
    chunkSize,
    // A sync flush ends the block on a byte boundary without ending the stream, so the next
    // block's bytes can follow it directly (pigz's layout).
    finishFlush: finish ? zlib.constants.Z_FINISH : zlib.constants.Z_SYNC_FLUSH,
  };
  if (dictionaryLength > 0) {
    options.dictionary = new Uint8Array(request.buffer, offset - dictionaryLength, dictionaryLength);
  }
  return zlib.deflateRawSync(new Uint8Array(request.buffer, offset, length), options);
}

/**
 * A block with incompressible segments: runs of them as stored blocks, the runs between them
 * deflated (each primed with the 32 KiB before it, as a whole block is), all byte-aligned.
 */
function mixed(request: DeflateRequest, stored: Uint8Array, crc: number): Compressed {
  // Uninitialized: every byte up to `at` is written below, and only those are sent.
  const out = new Uint8Array(Buffer.allocUnsafeSlow(outputRoom(request.length) + 64 * stored.length).buffer);
  const window = request.dataOffset - request.dictionaryLength;
  let at = 0;
  for (let segment = 0; segment < stored.length; ) {
    let end = segment + 1;
    while (end < stored.length && stored[end] === stored[segment]) end++;
    const offset = request.dataOffset + segment * SEGMENT_SIZE;
    const length = Math.min(end * SEGMENT_SIZE, request.length) - segment * SEGMENT_SIZE;
    const finish = request.last && end === stored.length;
    if (stored[segment] === 1) {
      at = storedBlocks(new Uint8Array(request.buffer, offset, length), finish, out, at);
    } else {
      const dictionaryLength = Math.min(WINDOW, offset - window);
      const deflated = deflate(request, offset, length, dictionaryLength, finish, outputRoom(length));
      out.set(deflated, at);
      at += deflated.length;
    }
    segment = end;
  }
  return { output: out.buffer, outputLength: at, crc };
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
    port.postMessage(reply, reply.ok ? [reply.output, ...transferable(reply.buffer)] : transferable(reply.buffer));
  });
}
