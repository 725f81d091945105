/**
 * A child process the bench times: Node's own zlib and crypto over one file, so the in-process
 * ceiling is measured the same way as gzip and sha256sum (GNU time around a process).
 * Usage: node node-throughput.js gzip|sha256|layer FILE
 *   gzip    gzip level 6, output discarded
 *   sha256  SHA-256 of the file
 *   layer   what a layer writer does in one pass: SHA-256 of the input (diffID), gzip level 6,
 *           SHA-256 of the gzip output (digest)
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';

function hashing(hash: Hash): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      done(null, chunk);
    },
  });
}

function discard(): Writable {
  return new Writable({
    write(_chunk, _enc, done) {
      done();
    },
  });
}

async function main(mode: string | undefined, file: string | undefined): Promise<number> {
  if (!file) {
    process.stderr.write('usage: node-throughput.js gzip|sha256|layer FILE\n');
    return 2;
  }
  const gzipLevel6 = () => createGzip({ level: 6 });
  switch (mode) {
    case 'gzip':
      await pipeline(createReadStream(file), gzipLevel6(), discard());
      return 0;
    case 'sha256': {
      const hash = createHash('sha256');
      await pipeline(createReadStream(file), hashing(hash), discard());
      process.stdout.write(`${hash.digest('hex')}\n`);
      return 0;
    }
    case 'layer': {
      const diffId = createHash('sha256');
      const digest = createHash('sha256');
      await pipeline(createReadStream(file), hashing(diffId), gzipLevel6(), hashing(digest), discard());
      process.stdout.write(`${diffId.digest('hex')} ${digest.digest('hex')}\n`);
      return 0;
    }
    default:
      process.stderr.write(`unknown mode ${String(mode)}\n`);
      return 2;
  }
}

process.exitCode = await main(process.argv[2], process.argv[3]);
