// A native addon: better-sqlite3 is compiled (or fetched) by npm inside the base image for the
// target platform, never copied from the host's node_modules.
const http = require('node:http');
const Database = require('better-sqlite3');

const db = new Database(':memory:');
db.exec('CREATE TABLE visits (n INTEGER)');
const port = Number(process.env.PORT || 3000);

http
  .createServer((_req, res) => {
    db.prepare('INSERT INTO visits VALUES (1)').run();
    const { n } = db.prepare('SELECT count(*) AS n FROM visits').get();
    const { v } = db.prepare('SELECT sqlite_version() AS v').get();
    res.end(`sqlite ${v} on ${process.arch}, visits ${n}\n`);
  })
  .listen(port);
