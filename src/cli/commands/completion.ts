/** `gantry completion bash|zsh|fish`: prints the shell's completion script, made from the flag tables. */
import { parse } from '../args.js';
import { bashScript, fishScript, zshScript } from '../completion.js';
import { type Command, usageError } from '../context.js';
import { renderHelp } from '../flags.js';
import { completionSpec } from '../specs/global.js';
import { COMMAND_SPECS, GLOBAL_FLAGS } from '../specs/index.js';

export const completionHelp = renderHelp(completionSpec);

export const completion: Command = async (args, ctx) => {
  const p = parse(completionSpec, args);
  if (p.values.help === true) {
    ctx.stdout.write(completionHelp);
    return 0;
  }
  const [shell, ...extra] = p.positionals;
  const input = { commands: COMMAND_SPECS, globals: GLOBAL_FLAGS };
  const script =
    extra.length > 0
      ? undefined
      : shell === 'bash'
        ? bashScript(input)
        : shell === 'zsh'
          ? zshScript(input)
          : shell === 'fish'
            ? fishScript(input)
            : undefined;
  if (script === undefined) {
    throw usageError(
      shell === undefined
        ? 'gantry completion needs a shell'
        : `gantry completion: unknown shell ${JSON.stringify([shell, ...extra].join(' '))}`,
      'give one of bash, zsh or fish (gantry completion --help says how to install it)',
    );
  }
  ctx.stdout.write(script);
  return 0;
};
