import { type Command, Option } from 'commander';
import type { CommandIo } from './io';
import {
  ADMINISTRATION_GROUP,
  allOptions,
  commands,
  examples,
  nonNegativeInteger,
  type ProgramState,
} from './program-helpers';

/** `grove dev`; its handler is dev.commands.ts. */
export function addDevCommand(program: Command, io: CommandIo, state: ProgramState): void {
  program
    .command('dev')
    .description('start a development cluster (controller + workers) and select a "dev" context for it')
    .helpGroup(ADMINISTRATION_GROUP)
    .option('-l, --listen <address>', 'address to listen on, HOST:PORT', '127.0.0.1:6120')
    .option('--data-dir <dir>', 'data directory, kept between runs (default: "$GROVE_HOME/dev")')
    .option('--workers <count>', 'number of workers to start (0 for none)', nonNegativeInteger, 1)
    .option(
      '--listen-ssh <address>',
      'address of the SSH gateway, HOST:PORT, or "off" (default: the listen address with port + 2, e.g. 6122)',
    )
    .option(
      '--insecure-allow-host-dirs',
      'let VMs mount any directory of this host (--host-dirs), ignoring the cluster host-dir policies; for a ' +
        'development machine only: whoever can create a VM can then read and write every path the worker can',
    )
    .option('--metrics-public', "serve the controller's /metrics without credentials (for a local Prometheus)")
    .addOption(
      new Option('--runtime <runtime>', 'VM runtime of the workers (tart needs macOS and Tart)')
        .choices(['synthetic', 'tart'])
        .default('synthetic'),
    )
    .addHelpText(
      'after',
      examples('grove dev', 'grove dev --workers 2', 'grove dev --listen 127.0.0.1:7000 --data-dir /tmp/grove-dev') +
        '\nThe controller serves plain HTTP on the listen address with authentication on; its bootstrap-admin\n' +
        'token is kept in the data dir and written into the "dev" context. Workers are named dev-worker-1..N;\n' +
        'worker N serves /healthz and /metrics on the listen port + 9 + N (6130, 6131, ... for 6120).\n' +
        'Synthetic VMs run in the worker process: VM port 22 is a real SSH server (admin/admin) whose commands\n' +
        'run with /bin/sh in a scratch directory on this host, port 7 echoes. Stop everything with Ctrl-C.\n',
    )
    .action(async (_options: unknown, command: Command) => {
      state.exitCode = await commands.dev().devRun(io, allOptions(command));
    });
}
