import { type Command, Option } from 'commander';
import type { CommandIo } from './io';
import {
  ADMINISTRATION_GROUP,
  allOptions,
  collect,
  commands,
  examples,
  nonNegativeInteger,
  type ProgramState,
  RESOURCES_GROUP,
} from './program-helpers';

/** The runtimes the worker process accepts (`--runtime`), see apps/worker's configuration. */
const WORKER_RUNTIMES = ['tart', 'synthetic'];

/**
 * `grove worker run|install|uninstall`, running this machine as a worker; the handlers are in controller.commands.ts
 * (run: it starts the worker process as `controller run` starts the controller) and worker-install.commands.ts.
 */
export function addWorkerCommands(program: Command, io: CommandIo, state: ProgramState): void {
  const worker = program
    .command('worker')
    .description('run a Grove worker on this Mac')
    .helpGroup(ADMINISTRATION_GROUP);
  worker
    .command('run')
    .description('register this machine as a worker and keep its session with the controller (foreground)')
    .argument('<controller-url>', 'controller address; scheme defaults to https, port to 6120')
    .option('--bootstrap-token <token>', 'credentials and pinned certificate (from an administrator)')
    .option('--bootstrap-token-stdin', 'read the bootstrap token from standard input')
    .option('--bootstrap-token-file <file>', 'read the bootstrap token from a file (for service managers)')
    .option('--name <name>', 'worker name (default: the host name)')
    .option('--labels <key=value>', 'label VMs can require (repeatable or comma-separated)', collect)
    .option('--resources <key=amount>', 'resource offered, over the automatic ones (repeatable)', collect)
    .option('--default-cpu <n>', 'CPUs for VMs that do not ask for a number', '4')
    .option('--default-memory <mib>', 'memory (MiB) for VMs that do not ask for an amount', '8192')
    .addOption(
      new Option(
        '--runtime <runtime>',
        'VM runtime: tart (default on macOS) or synthetic (in-process VMs for development and tests: SSH on VM port ' +
          '22 runs commands with /bin/sh in a per-VM scratch directory on this host, echo on port 7); default: tart ' +
          'on macOS, synthetic elsewhere',
      ).choices(WORKER_RUNTIMES),
    )
    .option('--data-dir <dir>', 'where the worker keeps its state (synthetic VMs); default $GROVE_HOME/worker')
    .option('--log-file <file>', 'also write JSON log lines to this file')
    .option(
      '--synthetic-delays <step=ms>',
      'synthetic runtime: how long pull, clone, configure, boot and delete take (repeatable, e.g. clone=2000)',
      collect,
    )
    .option('--heartbeat-interval <seconds>', 'how often to tell the controller this worker is alive', '15')
    .option(
      '--endpoint-address <addr>',
      'IP address the worker listens on for VM endpoints (ports it relays to VMs); Orchard listens on every ' +
        'interface, Grove on loopback unless told, e.g. 0.0.0.0 or a LAN address',
      '127.0.0.1',
    )
    .option(
      '--no-host-processes',
      'do not run VM host processes (programs a VM spec names, run on this host as this user); VMs that declare ' +
        'them are not placed here',
    )
    .option(
      '--listen-metrics <address>',
      'IP:PORT where the worker serves /healthz and /metrics (Prometheus), port 0 for any free port, or "off" ' +
        '(default: 127.0.0.1:6130; when that is taken, e.g. by another worker, it runs on without)',
    )
    .addHelpText(
      'after',
      examples(
        'grove worker run https://controller.example.com --bootstrap-token-stdin < token.txt',
        'grove worker run controller.example.com --bootstrap-token "$TOKEN" --labels pool=ci',
        'grove worker run http://127.0.0.1:6120 --bootstrap-token "$TOKEN" --runtime synthetic --data-dir /tmp/w1',
      ),
    )
    .action(async (url: string, _options: unknown, command: Command) => {
      state.exitCode = await commands.controller().workerRun(io, url, allOptions(command));
    });
  addWorkerServiceCommands(worker, io);
}

function addWorkerServiceCommands(worker: Command, io: CommandIo): void {
  worker
    .command('install')
    .description(
      'install "grove worker run" as a system service that starts at boot and restarts when it exits ' +
        '(launchd daemon on macOS, systemd unit on Linux; needs sudo)',
    )
    .argument('<controller-url>', 'controller address; scheme defaults to https, port to 6120')
    .option('--bootstrap-token <token>', 'credentials and pinned certificate (from "grove get bootstrap-token")')
    .option('--bootstrap-token-stdin', 'read the bootstrap token from standard input')
    .option('--bootstrap-token-file <file>', 'read the bootstrap token from a file')
    .option('--name <name>', 'worker name (default: the host name)')
    .option('--labels <key=value>', 'label VMs can require (repeatable or comma-separated)', collect)
    .option('--resources <key=amount>', 'resource offered, over the automatic ones (repeatable)', collect)
    .option('--default-cpu <n>', 'CPUs for VMs that do not ask for a number (default: 4)', nonNegativeInteger)
    .option(
      '--default-memory <mib>',
      'memory (MiB) for VMs that do not ask for an amount (default: 8192)',
      nonNegativeInteger,
    )
    .addOption(
      new Option('--runtime <runtime>', 'VM runtime (default: tart on macOS, synthetic elsewhere)').choices(
        WORKER_RUNTIMES,
      ),
    )
    .option('--data-dir <dir>', 'where the worker keeps its state (default: <service GROVE_HOME>/worker)')
    .option(
      '--log-file <file>',
      'macOS: where the service writes its output (default: /var/log/grove-worker.log); ' +
        'Linux: also write JSON log lines to this file (output goes to the journal)',
    )
    .option(
      '--endpoint-address <addr>',
      'IP address the worker listens on for VM endpoints (default: 127.0.0.1, loopback only)',
    )
    .option('--no-host-processes', 'do not run VM host processes (programs a VM spec names) on this host')
    .option(
      '--listen-metrics <address>',
      'IP:PORT where the worker serves /healthz and /metrics, or "off" (default: 127.0.0.1:6130)',
    )
    .option('--user <user>', 'run the worker as this user instead of root (its Tart VMs live in its home)')
    .option('--dry-run', 'print the files and commands instead of installing (no root needed)')
    .addHelpText(
      'after',
      examples(
        'grove get bootstrap-token worker-pool --rotate > token.txt   # as an administrator',
        'sudo grove worker install controller.example.com --bootstrap-token-file token.txt --user admin',
        'sudo grove worker install https://10.0.0.5:6120 --bootstrap-token-stdin --labels pool=ci < token.txt',
        'grove worker install controller.example.com --bootstrap-token "$TOKEN" --dry-run',
      ) +
        '\nThe token is copied into a file only its user can read (mode 0600, in /Library/Application Support/Grove\n' +
        'on macOS, /var/lib/grove on Linux) and the service reads it with --bootstrap-token-file: it never appears\n' +
        'on a command line. Installing again replaces the service. The service runs this node and this CLI by\n' +
        'their absolute paths, so reinstall after moving either.\n',
    )
    .action(async (url: string, _options: unknown, command: Command) => {
      await commands.workerInstall().workerInstall(io, url, allOptions(command));
    });
  worker
    .command('uninstall')
    .description('stop the worker service and remove it and its token file (the worker state is kept)')
    .option('--dry-run', 'print what would be done instead of doing it (no root needed)')
    .addHelpText('after', examples('sudo grove worker uninstall', 'grove worker uninstall --dry-run'))
    .action(async (_options: unknown, command: Command) => {
      await commands.workerInstall().workerUninstall(io, allOptions(command));
    });
}

/** `grove pause worker` and `grove resume worker`; their handlers are in worker.commands.ts. */
export function addPauseResumeCommands(program: Command, io: CommandIo): void {
  const pause = program.command('pause').description('pause scheduling').helpGroup(RESOURCES_GROUP);
  pause
    .command('worker')
    .description('stop scheduling new VMs on a worker (VMs already there keep running)')
    .argument('<name>', 'worker name')
    .option(
      '--wait <seconds>',
      'then wait up to this long until no VM (other than failed ones) is left on it',
      nonNegativeInteger,
    )
    .addHelpText('after', examples('grove pause worker mac-mini-1', 'grove pause worker mac-mini-1 --wait 3600'))
    .action(async (name: string, _options: unknown, command: Command) => {
      await commands.worker().pauseWorker(io, name, allOptions(command));
    });

  const resume = program.command('resume').description('resume scheduling').helpGroup(RESOURCES_GROUP);
  resume
    .command('worker')
    .description('allow scheduling VMs on a paused worker again')
    .argument('<name>', 'worker name')
    .addHelpText('after', examples('grove resume worker mac-mini-1'))
    .action(async (name: string, _options: unknown, command: Command) => {
      await commands.worker().resumeWorker(io, name, allOptions(command));
    });
}
