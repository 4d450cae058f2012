import type { Command } from 'commander';
import type { CommandIo } from './io';
import { ADMINISTRATION_GROUP, allOptions, commands, examples } from './program-helpers';

/** `grove context create|list|default|delete`; their handlers are in context.commands.ts. */
export function addContextCommands(program: Command, io: CommandIo): void {
  const context = program
    .command('context')
    .description('manage the controllers this CLI talks to ($GROVE_HOME/config.yml)')
    .helpGroup(ADMINISTRATION_GROUP);
  context
    .command('create')
    .description(
      'add a controller: check its certificate (pinning a self-signed one after you confirm its fingerprint) and ' +
        'the service-account credentials, then save them as a context',
    )
    .argument('<url>', 'controller address; scheme defaults to https, port to 6120')
    .option('--name <name>', 'context name', 'default')
    .option('--service-account-name <name>', 'service account to authenticate as (asked for on a terminal)')
    .option('--service-account-token <token>', 'token of the service account (asked for on a terminal, not echoed)')
    .option('--force', 'replace an existing context with the same name')
    .option('-y, --yes', 'trust the controller certificate without asking (check the printed fingerprint!)')
    .option('--no-pki', 'do not try the system certificate authorities first; always show and pin the certificate')
    .addHelpText(
      'after',
      examples(
        'grove context create controller.example.com --service-account-name admin',
        'grove context create https://10.0.0.5:6120 --name lab --service-account-name ci --service-account-token "$TOKEN"',
        'grove context create http://127.0.0.1:6120 --service-account-name bootstrap-admin --force',
      ) +
        '\nThe first context becomes the default. A self-signed certificate is pinned: later commands trust only it.\n',
    )
    .action(async (url: string, _options: unknown, command: Command) => {
      await commands.context().contextCreate(io, url, allOptions(command));
    });
  context
    .command('list')
    .description('list contexts; the default is marked with *')
    .addHelpText('after', examples('grove context list'))
    .action(() => commands.context().contextList(io));
  context
    .command('default')
    .description('make a context the default')
    .argument('<name>', 'context name')
    .addHelpText('after', examples('grove context default production'))
    .action((name: string) => commands.context().contextDefault(io, name));
  context
    .command('delete')
    .description('delete a context (deleting the default makes another one the default)')
    .argument('<name>', 'context name')
    .addHelpText('after', examples('grove context delete lab'))
    .action((name: string) => commands.context().contextDelete(io, name));
}
