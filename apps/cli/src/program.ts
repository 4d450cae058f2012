import { Command, CommanderError } from 'commander';
import { CliError, describeError, EXIT_FAILURE, EXIT_USAGE } from './cli.errors';
import { addPortForwardCommands, addSshCommand, addVncAndIpCommands } from './commands/connect.program';
import { addContextCommands } from './commands/context.program';
import { addControllerCommands } from './commands/controller.program';
import { addDevCommand } from './commands/dev.program';
import { addExecCommand } from './commands/exec.program';
import { processIo, type CommandIo } from './commands/io';
import { examples, type ProgramState } from './commands/program-helpers';
import { addLogsCommand, addResourceCommands, addSetCommand } from './commands/resource.program';
import { addStatusCommand } from './commands/status.program';
import { addPauseResumeCommands, addWorkerCommands } from './commands/worker.program';
import { cliVersion } from './version';

// Each group of commands is defined next to its handlers, in commands/*.program.ts; the handler modules themselves are
// loaded only when one of their commands runs (see `commands` in commands/program-helpers.ts).

/**
 * `grove ssh vm NAME COMMAND...` must get the remote command's words untouched (`ls -la`, `ls -u x`). Commander scans
 * the whole command line for the program's own options and splits it at the first unknown one, so for this command
 * the program parses its options only before the subcommand (commander's positional options); `ssh vm` accepts
 * `--context` itself.
 */
function needsPositionalOptions(args: readonly string[]): boolean {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--context') {
      i++;
    } else if (!args[i].startsWith('-')) {
      return args[i] === 'ssh' || args[i] === 'exec';
    }
  }
  return false;
}

/** The whole `grove` command tree. Errors are thrown (exitOverride), never `process.exit`ed. */
export function buildProgram(io: CommandIo, state: ProgramState = { exitCode: 0 }): Command {
  const program = new Command('grove');
  program
    .description('Grove: orchestrate Tart virtual machines on fleets of Macs (Orchard-compatible)')
    .version(cliVersion(), '--version', 'print the version')
    .option(
      '--context <name>',
      'use this context instead of the default (ignores GROVE_URL and the GROVE_SERVICE_ACCOUNT_* variables)',
    )
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.out(text),
      writeErr: (text) => io.err(text),
      outputError: (text, write) => write(text.replace(/^error: /, 'Error: ')),
    })
    .showHelpAfterError('(add --help for usage and examples)')
    .addHelpText(
      'after',
      '\nEnvironment:\n' +
        '  GROVE_HOME                    configuration directory (default ~/.grove)\n' +
        "  GROVE_URL                     controller URL, overriding the default context's\n" +
        "  GROVE_SERVICE_ACCOUNT_NAME    service account, overriding the default context's\n" +
        "  GROVE_SERVICE_ACCOUNT_TOKEN   token, overriding the default context's\n" +
        examples(
          'grove context create controller.example.com --service-account-name admin',
          'grove create vm ci-runner-1 --cpu 4 --memory 8192',
          'grove list vms',
          'grove logs vm ci-runner-1 --tail 50',
        ),
    );
  // The order of these calls is the order of the commands in help.
  addResourceCommands(program, io);
  addStatusCommand(program, io);
  addLogsCommand(program, io);
  addPauseResumeCommands(program, io);
  addSetCommand(program, io);
  addPortForwardCommands(program, io);
  addSshCommand(program, io, state);
  addExecCommand(program, io, state);
  addVncAndIpCommands(program, io);
  addContextCommands(program, io);
  addControllerCommands(program, io, state);
  addDevCommand(program, io, state);
  addWorkerCommands(program, io, state);
  return program;
}

/** Parses `argv` (as in process.argv), runs the command and returns the exit code; never calls process.exit. */
export async function runCli(argv: readonly string[], io: CommandIo = processIo()): Promise<number> {
  const state: ProgramState = { exitCode: 0 };
  const program = buildProgram(io, state);
  if (needsPositionalOptions(argv.slice(2))) {
    program.enablePositionalOptions();
  }
  try {
    await program.parseAsync([...argv]);
    return state.exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander has printed the problem already; --help and --version end here with 0.
      return err.exitCode === 0 ? 0 : EXIT_USAGE;
    }
    io.err(`Error: ${describeError(err)}\n`);
    if (err instanceof CliError) {
      return err.exitCode;
    }
    if (io.env['GROVE_DEBUG'] && err instanceof Error && err.stack) {
      io.err(`${err.stack}\n`);
    }
    return EXIT_FAILURE;
  }
}
