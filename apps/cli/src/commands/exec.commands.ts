import { CliError, describeError, UsageError } from '../cli.errors';
import { parseEnvFlags } from '../exec/exec-options';
import { EXIT_EXEC_FAILURE, runExec, type ExecPlan } from '../exec/exec-runner';
import { commandLine, shellQuote } from '../exec/shell-words';
import { terminalOf } from '../exec/terminal';
import { onInterrupt, streamsOf, type CommandIo, type GlobalOptions } from './io';
import { withClient } from './session';

export interface ExecOptions extends GlobalOptions {
  interactive?: boolean;
  tty?: boolean;
  env?: string[];
  workdir?: string;
  session?: string;
  wait: number;
}

/**
 * `grove exec vm NAME [options] -- PROGRAM [ARGS...]`: runs a program in a VM through the controller's exec
 * WebSocket (Orchard's protocol) and exits with its exit code; with `--session ID` and no program, reattaches to a
 * running session. See docs/cli-exec.md.
 */
export async function execVm(io: CommandIo, name: string, words: string[], options: ExecOptions): Promise<number> {
  const plan = execPlan(io, name, words, options);
  const streams = streamsOf(io);
  return withClient(io, options, (client) =>
    runExec(plan, {
      open: (params, signal) => client.vms.exec(name, params, { signal }),
      streams,
      terminal: terminalOf(streams),
      onInterrupt: (listener) => onInterrupt(io, listener),
      say: (line) => io.err(`${line}\n`),
      reattachHint: reattachCommand(name, options),
    }).catch((err: unknown) => {
      // The handshake failed (unknown VM, missing role, VM not running in time, worker unreachable...).
      throw new CliError(describeError(err), { cause: err, exitCode: EXIT_EXEC_FAILURE });
    }),
  );
}

function execPlan(io: CommandIo, name: string, words: string[], options: ExecOptions): ExecPlan {
  const env = parseEnvFlags(options.env ?? [], io.env);
  if (options.session !== undefined && options.session.trim() === '') {
    throw new UsageError('--session needs a non-empty id');
  }
  if (words.length === 0) {
    if (options.session === undefined) {
      throw new UsageError(
        'no command: give one after "--" (grove exec vm NAME -- PROGRAM [ARGS...]), or --session ID alone to reattach',
      );
    }
    if (Object.keys(env).length > 0 || options.workdir !== undefined) {
      throw new UsageError(
        '-e/--env and -w/--workdir apply to a new command; reattaching with --session takes neither',
      );
    }
  }
  return {
    vm: name,
    command: words.length > 0 ? commandLine(words) : undefined,
    argv: words,
    session: options.session,
    stdin: Boolean(options.interactive),
    tty: Boolean(options.tty),
    env,
    workdir: options.workdir,
    wait: options.wait,
  };
}

/** `grove [--context C] exec vm NAME --session ID [-i] [-t]`: what reattaches to the same session. */
function reattachCommand(name: string, options: ExecOptions): string | undefined {
  if (options.session === undefined) {
    return undefined;
  }
  const flags = [options.interactive && options.tty ? '-it' : options.interactive ? '-i' : options.tty ? '-t' : ''];
  const context = options.context !== undefined ? ['--context', shellQuote(options.context)] : [];
  return ['grove', ...context, 'exec', 'vm', shellQuote(name), '--session', shellQuote(options.session), ...flags]
    .filter((word) => word !== '')
    .join(' ');
}
