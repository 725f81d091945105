/**
 * Test harness: a command run the way an unprivileged Kubernetes pod runs it: a non-root user
 * (uid/gid 1000 by default) with no capabilities, and no user namespaces (the kernel refuses to
 * create one, as in a pod whose runtime or seccomp profile forbids them). Made with a user
 * namespace whose ids map one to one onto the host's (files keep their owners), whose limit of
 * nested user namespaces is set to 0 before the command drops to the user: nothing is mocked,
 * the kernel refuses for real. Needs root and python3 (ctypes' unshare).
 */
import { spawn } from 'node:child_process';

const SCRIPT = String.raw`
import ctypes, os, sys
CLONE_NEWUSER = 0x10000000
uid, gid = int(sys.argv[1]), int(sys.argv[2])
argv = sys.argv[3:]
libc = ctypes.CDLL(None, use_errno=True)
to_child_r, to_child_w = os.pipe()
to_parent_r, to_parent_w = os.pipe()
pid = os.fork()
if pid == 0:
    if libc.unshare(CLONE_NEWUSER) != 0:
        sys.stderr.write('unprivileged: unshare: %s\n' % os.strerror(ctypes.get_errno())); os._exit(120)
    os.write(to_parent_w, b'u'); os.read(to_child_r, 1)
    # Root of this namespace (still capable here): forbid nested user namespaces, then drop to the user.
    with open('/proc/sys/user/max_user_namespaces', 'w') as f: f.write('0')
    os.setgroups([]); os.setresgid(gid, gid, gid); os.setresuid(uid, uid, uid)
    try:
        os.execvp(argv[0], argv)
    except OSError as e:
        sys.stderr.write('unprivileged: %s: %s\n' % (argv[0], e)); os._exit(127)
os.read(to_parent_r, 1)
for name in ('uid_map', 'gid_map'):
    with open('/proc/%d/%s' % (pid, name), 'w') as f: f.write('0 0 65536\n')
os.write(to_child_w, b'g')
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))
`;

export interface UnprivilegedResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `argv` as `uid`:`gid` without capabilities and without user namespaces. */
export function runUnprivileged(
  argv: readonly string[],
  options: { uid?: number; gid?: number; env?: NodeJS.ProcessEnv; cwd?: string; input?: string } = {},
): Promise<UnprivilegedResult> {
  const uid = options.uid ?? 1000;
  const gid = options.gid ?? 1000;
  return new Promise((resolve, reject) => {
    const child = spawn('python3', ['-c', SCRIPT, String(uid), String(gid), ...argv], {
      env: options.env ?? process.env,
      ...(options.cwd ? { cwd: options.cwd } : {}),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString('utf8');
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString('utf8');
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}
