/**
 * The plan of a project build, as `--dry-run` prints it and `-v` explains it: the base, the
 * layers (with file counts and sizes where they are known before building), the entrypoint,
 * ports, user, and why each was chosen. The same data a library caller gets.
 */

export interface PlanLayer {
  readonly name: string;
  /** Files and bytes that go in; undefined when only the build can tell (installed packages). */
  readonly files?: number;
  readonly bytes?: number;
  readonly why: string;
}

export interface PlanDecision {
  /** What was decided: `frontend`, `base`, `entrypoint`, `user`, ... */
  readonly topic: string;
  readonly value: string;
  readonly why: string;
}

export interface ProjectPlan {
  readonly frontend: string;
  readonly base: string;
  readonly platforms: readonly string[];
  readonly layers: readonly PlanLayer[];
  readonly entrypoint: readonly string[];
  readonly cmd?: readonly string[];
  readonly ports: readonly string[];
  readonly user: string;
  readonly workdir: string;
  readonly env: Readonly<Record<string, string>>;
  /** Every decision with its reason, in the order it was made. */
  readonly decisions: readonly PlanDecision[];
}

function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** The plan as text. `verbose` adds every decision with its reason. */
export function formatPlan(plan: ProjectPlan, options: { readonly verbose?: boolean } = {}): string {
  const why = (topic: string): string => {
    const d = plan.decisions.find((x) => x.topic === topic);
    return d ? `  (${d.why})` : '';
  };
  const lines = [
    `frontend:   ${plan.frontend}${why('frontend')}`,
    `base:       ${plan.base}${why('base')}`,
    `platforms:  ${plan.platforms.join(', ')}`,
    'layers:',
  ];
  for (const [i, l] of plan.layers.entries()) {
    const counted = l.files === undefined ? '' : ` (${l.files} files, ${size(l.bytes ?? 0)})`;
    lines.push(`  ${i + 1}. ${l.name}${counted}  (${l.why})`);
  }
  lines.push(`entrypoint: ${JSON.stringify(plan.entrypoint)}${why('entrypoint')}`);
  if (plan.cmd) lines.push(`cmd:        ${JSON.stringify(plan.cmd)}`);
  lines.push(`ports:      ${plan.ports.length > 0 ? plan.ports.join(', ') : 'none'}${why('ports')}`);
  lines.push(`user:       ${plan.user}${why('user')}`);
  lines.push(`workdir:    ${plan.workdir}`);
  const env = Object.entries(plan.env).map(([k, v]) => `${k}=${v}`);
  if (env.length > 0) lines.push(`env:        ${env.join(' ')}`);
  if (options.verbose) {
    lines.push('decisions:');
    for (const d of plan.decisions) lines.push(`  ${d.topic}: ${d.value} -- ${d.why}`);
  }
  return `${lines.join('\n')}\n`;
}
