// A sandboxed environment for credential tests: HOME, DOCKER_CONFIG, XDG_* and PATH point into a
// temp dir, so no test reads or writes the real user's logins; and a real docker-credential-*
// program (a shell script keeping secrets in files) for the helper protocol.
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Sandbox {
  readonly dir: string;
  readonly home: string;
  readonly bin: string;
  /** Environment with HOME, PATH (bin first), XDG_RUNTIME_DIR and XDG_CONFIG_HOME in the sandbox. */
  readonly env: NodeJS.ProcessEnv;
  readonly dockerConfig: string;
}

export async function withSandbox<T>(fn: (box: Sandbox) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'gantry-auth-'));
  try {
    const home = join(dir, 'home');
    const bin = join(dir, 'bin');
    await mkdir(home);
    await mkdir(bin);
    const env: NodeJS.ProcessEnv = {
      HOME: home,
      PATH: `${bin}:/usr/bin:/bin`,
      XDG_RUNTIME_DIR: join(dir, 'run'),
      XDG_CONFIG_HOME: join(dir, 'config'),
    };
    return await fn({ dir, home, bin, env, dockerConfig: join(home, '.docker', 'config.json') });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function writeJson(path: string, value: unknown): Promise<void> {
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(path, JSON.stringify(value, null, 2));
}

export function basic(user: string, pass: string): string {
  return Buffer.from(`${user}:${pass}`).toString('base64');
}

export interface FakeHelper {
  /** One line per call: the action and what it got on stdin. */
  calls(): Promise<string[]>;
  /** The JSON the helper holds for a server URL. */
  stored(serverUrl: string): Promise<{ ServerURL: string; Username: string; Secret: string } | undefined>;
  seed(serverUrl: string, username: string, secret: string): Promise<void>;
}

/**
 * Installs `docker-credential-NAME` into the sandbox's bin: a POSIX shell script implementing
 * get/store/erase over one file per server URL, answering "credentials not found in native
 * keychain" with exit 1 as docker-credential-helpers do.
 */
export async function installHelper(box: Sandbox, name: string, options: { fail?: string } = {}): Promise<FakeHelper> {
  const data = join(box.dir, `helper-${name}`);
  await mkdir(data, { recursive: true });
  const script = `#!/bin/sh
data='${data}'
action="$1"
input=$(cat)
printf '%s %s\\n' "$action" "$input" >> "$data/calls.log"
${options.fail ? `echo '${options.fail}' >&2; exit 3` : ''}
keyof() { printf '%s' "$1" | od -An -tx1 | tr -d ' \\n'; }
case "$action" in
  get)
    f="$data/$(keyof "$input").json"
    if [ -f "$f" ]; then cat "$f"; else echo 'credentials not found in native keychain'; exit 1; fi ;;
  store)
    url=$(printf '%s' "$input" | sed -n 's/.*"ServerURL":"\\([^"]*\\)".*/\\1/p')
    printf '%s' "$input" > "$data/$(keyof "$url").json" ;;
  erase)
    f="$data/$(keyof "$input").json"
    if [ -f "$f" ]; then rm "$f"; else echo 'credentials not found in native keychain'; exit 1; fi ;;
  *) echo "unknown action $action" >&2; exit 2 ;;
esac
`;
  const program = join(box.bin, `docker-credential-${name}`);
  await writeFile(program, script);
  await chmod(program, 0o755);
  const fileFor = (url: string) => join(data, `${Buffer.from(url).toString('hex')}.json`);
  return {
    async calls() {
      try {
        return (await readFile(join(data, 'calls.log'), 'utf8')).split('\n').filter((l) => l !== '');
      } catch {
        return [];
      }
    },
    async stored(url) {
      try {
        return JSON.parse(await readFile(fileFor(url), 'utf8'));
      } catch {
        return undefined;
      }
    },
    async seed(url, username, secret) {
      await writeFile(fileFor(url), JSON.stringify({ ServerURL: url, Username: username, Secret: secret }));
    },
  };
}

export async function listDir(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch {
    return [];
  }
}
