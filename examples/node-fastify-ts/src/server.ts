// A Fastify app in TypeScript: gantry runs `npm run build` (tsc) in a build stage on the base
// image, ships dist/ with the production dependencies, and starts `node dist/server.js`.
import Fastify from 'fastify';

const app = Fastify();
const port: number = Number(process.env.PORT ?? 3000);

app.get('/', async () => ({ hello: 'fastify', typescript: true, env: process.env.NODE_ENV }));

await app.listen({ port, host: '0.0.0.0' });
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => void app.close().then(() => process.exit(0)));
