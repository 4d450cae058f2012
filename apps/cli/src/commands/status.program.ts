import type { Command } from 'commander';
import type { CommandIo } from './io';
import { allOptions, commands, examples, outputOption, RESOURCES_GROUP } from './program-helpers';

/** `grove status`; its handler is status.commands.ts. */
export function addStatusCommand(program: Command, io: CommandIo): void {
  program
    .command('status')
    .description(
      'the cluster at a glance: workers and their capacity, VMs by status, pending VMs and why, sessions now',
    )
    .helpGroup(RESOURCES_GROUP)
    .addOption(outputOption())
    .addHelpText(
      'after',
      examples('grove status', 'grove status -o json') +
        '\nNeeds a service account with compute:read. The sessions are those going through\n' +
        "the controller replica that answered. For monitoring, scrape the controller's\n" +
        '/metrics instead (docs/observability.md).\n',
    )
    .action(async (_options: unknown, command: Command) => {
      await commands.status().showStatus(io, allOptions(command));
    });
}
