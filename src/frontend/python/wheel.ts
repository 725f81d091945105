/**
 * `--wheel`: a wheel of the project itself, as its own layer. In the sandbox, on the base, the
 * dependency layer (when there is one) and the application files (the app layer, for the step
 * only), the venv's pip builds the project with its own PEP 517 backend from the base
 * (`pip wheel --no-deps --no-build-isolation --no-index`: nothing is downloaded) and installs the
 * wheel into /opt/venv. Only what the install adds to /opt/venv is the layer: the sources and the
 * wheel live in a scratch directory bound in for the step. The key holds the app files' key, the
 * backend and the platform, so an unchanged project is a cache hit and a source change rebuilds
 * only this layer. A backend the base lacks is a clear error before pip's own noise.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Isolation } from '../../engine/executor/index.js';
import type { RunningStep, Solver, StepResult } from '../../engine/solver/solver.js';
import { runStep } from '../../engine/solver/steps.js';
import { GantryError } from '../../errors.js';
import type { Layer } from '../../oci/image.js';
import { formatPlatform } from '../../oci/platform.js';
import type { Platform } from '../../oci/types.js';
import { type ToolsImage, VENV } from './deps.js';
import { pointVenvAt } from './venv.js';

const SCRATCH = '/run/gantry-wheel';
const MISSING = 'gantry: build backend missing:';

const WHEEL_SCRIPT = `import importlib, json, os, shutil, subprocess, sys
cfg = json.load(open(sys.argv[1]))
venv = cfg["venv"]
if not os.path.exists(venv + "/bin/python"):
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", venv], check=True)
py = venv + "/bin/python"
module = cfg["backend"].split(":")[0]
if subprocess.run([py, "-c", "import importlib, sys; importlib.import_module(sys.argv[1])", module],
                  stderr=subprocess.DEVNULL).returncode != 0:
    print("${MISSING} " + module, flush=True)
    sys.exit(3)
src, out = cfg["scratch"] + "/src", cfg["scratch"] + "/out"
shutil.copytree(cfg["source"], src, symlinks=True)
pip = [py, "-m", "pip", "--disable-pip-version-check", "--no-cache-dir", "--no-input"]
r = subprocess.run(pip + ["wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", out, src])
if r.returncode != 0:
    sys.exit(r.returncode)
wheels = sorted(w for w in os.listdir(out) if w.endswith(".whl"))
print("gantry: built " + ", ".join(wheels), flush=True)
r = subprocess.run(pip + ["install", "--no-deps", "--no-index", "--no-compile", "--no-warn-script-location",
                          "--root-user-action=ignore"] + [out + "/" + w for w in wheels])
sys.exit(r.returncode)
`;

/** A venv made for the base runs in the tools image pointed at its interpreter, and is pointed back after. */
function venvHooks(tools: ToolsImage) {
  const point = (python: string) => async (root: string) => {
    if (existsSync(join(root, VENV, 'pyvenv.cfg'))) await pointVenvAt(join(root, VENV), python);
  };
  return { before: point(tools.toolsPython), after: point(tools.basePython) };
}

export interface WheelInputs {
  /** The app layer's step key: the project files' contents. */
  readonly appKey: string;
  /** Where the app layer puts the files (the workdir). */
  readonly source: string;
  readonly backend: string;
  /** Where the backend was read from (for the error). */
  readonly backendFrom: string;
  readonly requires: readonly string[];
  readonly platform: Platform;
  /** The base cannot build (no pip): the wheel is built in this tools image. */
  readonly tools?: ToolsImage;
}

/** The project's wheel built and installed into /opt/venv, as a solver step on `parent` (the dependency layer's chain, or the base's key). */
export function wheelStep(
  solver: Solver,
  parent: string,
  layers: readonly Layer[],
  baseEnv: readonly string[],
  inputs: WheelInputs,
  ctx: { readonly sourceDateEpoch: number; readonly isolation?: Isolation },
): Promise<StepResult> {
  return solver.step({
    parent,
    inputs: [
      'python project wheel v1',
      formatPlatform(inputs.platform),
      inputs.appKey,
      inputs.source,
      inputs.backend,
      ...(inputs.tools ? [`tools ${inputs.tools.basePython}`] : []),
    ],
    name: `pip wheel the project (${inputs.backend}) and install it into ${VENV} (${formatPlatform(inputs.platform)})${inputs.tools ? ` in the tools image ${inputs.tools.ref}` : ''}`,
    run: (step) => buildWheel(solver, layers, baseEnv, inputs, ctx, step),
  });
}

async function buildWheel(
  solver: Solver,
  layers: readonly Layer[],
  baseEnv: readonly string[],
  inputs: WheelInputs,
  ctx: { readonly sourceDateEpoch: number; readonly isolation?: Isolation },
  step: RunningStep,
) {
  const { tools } = inputs;
  const scratch = await mkdtemp(join(tmpdir(), 'gantry-wheel-'));
  let missing: string | undefined;
  try {
    await writeFile(join(scratch, 'wheel.py'), WHEEL_SCRIPT);
    await writeFile(
      join(scratch, 'wheel.json'),
      JSON.stringify({ venv: VENV, backend: inputs.backend, source: inputs.source, scratch: SCRATCH }),
    );
    const env = [
      ...baseEnv.filter((e) => !e.startsWith('PIP_') && !e.startsWith('HOME=')),
      `HOME=${SCRATCH}`,
      'PYTHONDONTWRITEBYTECODE=1',
      `SOURCE_DATE_EPOCH=${ctx.sourceDateEpoch}`,
    ];
    return await runStep(
      layers,
      {
        args: ['python3', `${SCRATCH}/wheel.py`, `${SCRATCH}/wheel.json`],
        env,
        cwd: '/',
        network: 'none',
        platform: inputs.platform,
        mounts: [{ source: scratch, target: SCRATCH }],
        onOutput: (line) => {
          if (line.startsWith(MISSING)) missing = line.slice(MISSING.length).trim();
          step.log(line);
        },
      },
      undefined,
      {
        ...solver.context,
        sourceDateEpoch: ctx.sourceDateEpoch,
        ...(ctx.isolation ? { isolation: ctx.isolation } : {}),
      },
      tools ? venvHooks(tools) : {},
    );
  } catch (err) {
    if (missing === undefined) throw err;
    const requires = inputs.requires.length > 0 ? inputs.requires.join(', ') : missing;
    throw new GantryError(
      'PYTHON_BUILD_BACKEND_MISSING',
      `--wheel: the base image has no build backend ${missing} (${inputs.backendFrom} needs ${requires}) for ${formatPlatform(inputs.platform)}`,
      {
        phase: 'build',
        suggestion: `use a base with ${requires} installed (or add them to the project's requirements), or build without --wheel`,
        cause: err,
      },
    );
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
