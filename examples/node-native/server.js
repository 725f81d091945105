// A native addon: fs-ext (flock and statvfs, C++ compiled by node-gyp) is installed by npm inside
// the base image for the target platform, never copied from the host's node_modules.
const http = require('node:http');
const { openSync } = require('node:fs');
const fsExt = require('fs-ext');

// An exclusive, non-blocking flock on this file, taken through the addon (read-only: no write needed).
fsExt.flockSync(openSync(__filename, 'r'), 'exnb');
const port = Number(process.env.PORT || 3000);

http
  .createServer((_req, res) => {
    fsExt.statVFS('/', (err, vfs) => {
      if (err) {
        res.statusCode = 500;
        res.end(`${err.message}\n`);
        return;
      }
      res.end(`fs-ext on ${process.arch}: flock held, / names up to ${vfs.f_namemax} bytes\n`);
    });
  })
  .listen(port);
