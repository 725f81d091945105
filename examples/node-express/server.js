// An Express app: `gantry build examples/node-express -t express-app` gives an image that runs
// `node server.js` as a non-root user, with port 3000 exposed.
const express = require('express');

const app = express();
const port = Number(process.env.PORT || 3000);

app.get('/', (_req, res) => {
  res.type('text/plain').send(`hello from express (NODE_ENV=${process.env.NODE_ENV})\n`);
});

const server = app.listen(port, () => console.log(`listening on ${port}`));
// Exec form (node is PID 1's child or PID 1): SIGTERM reaches the app, which closes cleanly.
process.on('SIGTERM', () => server.close(() => process.exit(0)));
