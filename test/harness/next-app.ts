/**
 * Test harness: a real Next.js app (`output: 'standalone'`) built by a real `next build` on the
 * host, once per machine. next, react and react-dom come from the npm registry (~300 MB
 * installed, a minute of `next build` on two cores: too slow for every run, so the built app is
 * cached in the fixtures dir under a key of its recipe). The host's node_modules and .next/cache
 * are dropped after the build: the standalone output holds the node_modules Next traced, and a
 * build with `--build-on host` ships only .next/standalone, .next/static and public/.
 */
import { createHash } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildInPlace, fixturesDir } from './fixtures.js';
import { run } from './run.js';

export const NEXT_VERSION = '15.1.0';
const REACT_VERSION = '19.0.0';
/** What the index page renders (server-side, into the prerendered HTML). */
export const NEXT_GREETING = 'hello from next';

const FILES: Readonly<Record<string, string>> = {
  'package.json': `${JSON.stringify(
    {
      name: 'next-real',
      private: true,
      scripts: { build: 'next build' },
      dependencies: { next: NEXT_VERSION, react: REACT_VERSION, 'react-dom': REACT_VERSION },
    },
    null,
    2,
  )}\n`,
  'next.config.js': "module.exports = { output: 'standalone' };\n",
  'pages/index.js': `export default function Home() {\n  return <p>${NEXT_GREETING}</p>;\n}\n`,
  'public/logo.txt': 'logo\n',
};

/** The directory of the built app (read-only: copy it before changing anything). */
export function nextApp(): Promise<string> {
  const key = createHash('sha256')
    .update(JSON.stringify({ recipe: 1, files: FILES }))
    .digest('hex')
    .slice(0, 16);
  return buildInPlace(join(fixturesDir(), `next-app-${key}`), async (tmp) => {
    const app = join(tmp, 'app');
    for (const [p, body] of Object.entries(FILES)) {
      await mkdir(join(app, p, '..'), { recursive: true });
      await writeFile(join(app, p), body);
    }
    const env = { ...process.env, NEXT_TELEMETRY_DISABLED: '1', CI: '1' };
    // No install scripts: next needs none (sharp, optional, brings prebuilt binaries).
    await run('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: app, env });
    await run('npx', ['--no-install', 'next', 'build'], { cwd: app, env });
    await rm(join(app, 'node_modules'), { recursive: true, force: true });
    await rm(join(app, '.next', 'cache'), { recursive: true, force: true });
    return app;
  });
}
