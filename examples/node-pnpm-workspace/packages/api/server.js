// The workspace member that becomes the image: `gantry build --workspace @example/api
// examples/node-pnpm-workspace`. Its image holds it, @example/greeting and ms, and not tools.
const http = require('node:http');
const { greet } = require('@example/greeting');

const port = Number(process.env.PORT || 8080);
http.createServer((_req, res) => res.end(greet('api'))).listen(port);
