import { type Command, InvalidArgumentError, Option } from 'commander';
import { EXIT_USAGE } from '../cli.errors';
import type * as BootstrapTokenCommands from './bootstrap-token.commands';
import type * as ConnectCommands from './connect.commands';
import type * as ContextCommands from './context.commands';
import type * as ControllerCommands from './controller.commands';
import type * as DevCommands from './dev.commands';
import type * as ExecCommands from './exec.commands';
import type * as ResourceCommands from './resource.commands';
import type * as SshKeyCommands from './ssh-key.commands';
import type * as StatusCommands from './status.commands';
import type * as WorkerInstallCommands from './worker-install.commands';
import type * as WorkerCommands from './worker.commands';

/**
 * The handler modules, each required only when one of its commands runs: every `grove` process pays for what it
 * loads before it does anything, and module loading was most of a command's time. `grove --help` needs none of them,
 * and `grove exec` must not pay for what `context create` (prompts), `dev` and `worker install` (child processes) or
 * `ssh` (ssh2) load. The command definitions (the `*.program.ts` files) stay eager, so help, parsing and usage errors
 * do not change, and must import the handler modules only as types; see docs/benchmarks.md, "CLI start-up".
 * `require` rather than `import()`: the build is CommonJS, and `import()` would go through Node's ESM loader. The
 * `import type`s keep the handlers' signatures checked.
 */
/* eslint-disable @typescript-eslint/no-require-imports -- deliberate lazy loading, see above */
export const commands = {
  bootstrapToken: () => require('./bootstrap-token.commands') as typeof BootstrapTokenCommands,
  connect: () => require('./connect.commands') as typeof ConnectCommands,
  context: () => require('./context.commands') as typeof ContextCommands,
  controller: () => require('./controller.commands') as typeof ControllerCommands,
  dev: () => require('./dev.commands') as typeof DevCommands,
  exec: () => require('./exec.commands') as typeof ExecCommands,
  resource: () => require('./resource.commands') as typeof ResourceCommands,
  sshKey: () => require('./ssh-key.commands') as typeof SshKeyCommands,
  status: () => require('./status.commands') as typeof StatusCommands,
  worker: () => require('./worker.commands') as typeof WorkerCommands,
  workerInstall: () => require('./worker-install.commands') as typeof WorkerInstallCommands,
};
/* eslint-enable @typescript-eslint/no-require-imports */

/** What an action reports back to `runCli`: the exit code of commands that have one of their own. */
export interface ProgramState {
  exitCode: number;
}

/** The verbs that `create`, `get`, `list` and `delete` resources; several groups add their subcommands to them. */
export interface ResourceVerbs {
  create: Command;
  get: Command;
  list: Command;
  delete: Command;
}

export const RESOURCES_GROUP = 'Working with resources:';
export const ADMINISTRATION_GROUP = 'Administration:';
export const CONNECT_GROUP = 'Connecting to VMs:';

const OUTPUT_CHOICES = ['table', 'json', 'yaml'];

export function outputOption(): Option {
  return new Option('-o, --output <format>', 'output format').choices(OUTPUT_CHOICES).default('table');
}

export function nonNegativeInteger(value: string): number {
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) {
    throw new InvalidArgumentError('expected a non-negative integer.');
  }
  return Number(value);
}

export function positiveInteger(value: string): number {
  const n = nonNegativeInteger(value);
  if (n === 0) {
    throw new InvalidArgumentError('expected a positive integer.');
  }
  return n;
}

/** For repeatable options; no default value, so that help does not print `(default: [])`. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function examples(...lines: string[]): string {
  return `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`;
}

/** Parsed options of the command plus the program's global ones (`--context`). */
export function allOptions<T>(command: Command): T {
  return command.optsWithGlobals<T & object>();
}

/**
 * Like ssh, options may also follow the VM name: they are parsed here (commander stops at the first argument when
 * passing options through), up to the first other word, which starts the remote command. Returns the command words.
 */
export function optionsAfterName(command: Command, words: string[]): string[] {
  const { operands, unknown } = command.parseOptions(words);
  if (unknown.length > 0) {
    if (unknown[0] === '-h' || unknown[0] === '--help') {
      command.help();
    }
    command.error(`error: unknown option '${unknown[0]}' (put "--" before a remote command that starts with "-")`, {
      code: 'commander.unknownOption',
      exitCode: EXIT_USAGE,
    });
  }
  return operands;
}
