import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import {
  ARCHITECTURES,
  IMAGE_PULL_POLICIES,
  isOneOf,
  OPERATING_SYSTEMS,
  RESTART_POLICIES,
  ROLES,
  RUNTIMES,
  SCHEDULER_PROFILES,
  type Role,
} from '@grove/resources';
import { CliError, describeError, EXIT_FAILURE, EXIT_USAGE } from './cli.errors';
import type * as BootstrapTokenCommands from './commands/bootstrap-token.commands';
import type * as ConnectCommands from './commands/connect.commands';
import type * as ContextCommands from './commands/context.commands';
import type * as ControllerCommands from './commands/controller.commands';
import type * as DevCommands from './commands/dev.commands';
import type * as ExecCommands from './commands/exec.commands';
import type * as ResourceCommands from './commands/resource.commands';
import type * as SshKeyCommands from './commands/ssh-key.commands';
import type * as WorkerInstallCommands from './commands/worker-install.commands';
import type * as WorkerCommands from './commands/worker.commands';
import { processIo, type CommandIo } from './commands/io';
import { parsePortSpec, type PortSpec } from './connect/port-spec';
import { DEFAULT_VM_IMAGE, splitList } from './vm-create-flags';
import { cliVersion } from './version';

/**
 * The handler modules, each required only when one of its commands runs: every `grove` process pays for what it
 * loads before it does anything, and module loading was most of a command's time. `grove --help` needs none of them,
 * and `grove exec` must not pay for what `context create` (prompts), `dev` and `worker install` (child processes) or
 * `ssh` (ssh2) load. The command definitions below stay eager, so help, parsing and usage errors do not change; see
 * docs/benchmarks.md, "CLI start-up". `require` rather than `import()`: the build is CommonJS, and `import()` would go
 * through Node's ESM loader. The `import type`s keep the handlers' signatures checked.
 */
/* eslint-disable @typescript-eslint/no-require-imports -- deliberate lazy loading, see above */
const commands = {
  bootstrapToken: () => require('./commands/bootstrap-token.commands') as typeof BootstrapTokenCommands,
  connect: () => require('./commands/connect.commands') as typeof ConnectCommands,
  context: () => require('./commands/context.commands') as typeof ContextCommands,
  controller: () => require('./commands/controller.commands') as typeof ControllerCommands,
  dev: () => require('./commands/dev.commands') as typeof DevCommands,
  exec: () => require('./commands/exec.commands') as typeof ExecCommands,
  resource: () => require('./commands/resource.commands') as typeof ResourceCommands,
  sshKey: () => require('./commands/ssh-key.commands') as typeof SshKeyCommands,
  worker: () => require('./commands/worker.commands') as typeof WorkerCommands,
  workerInstall: () => require('./commands/worker-install.commands') as typeof WorkerInstallCommands,
};
/* eslint-enable @typescript-eslint/no-require-imports */

const OUTPUT_CHOICES = ['table', 'json', 'yaml'];
/** The runtimes the worker process accepts (`--runtime`), see apps/worker's configuration. */
const WORKER_RUNTIMES = ['tart', 'synthetic'];

function outputOption(): Option {
  return new Option('-o, --output <format>', 'output format').choices(OUTPUT_CHOICES).default('table');
}

function nonNegativeInteger(value: string): number {
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) {
    throw new InvalidArgumentError('expected a non-negative integer.');
  }
  return Number(value);
}

function positiveInteger(value: string): number {
  const n = nonNegativeInteger(value);
  if (n === 0) {
    throw new InvalidArgumentError('expected a positive integer.');
  }
  return n;
}

/** For repeatable options; no default value, so that help does not print `(default: [])`. */
function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

function collectRoles(value: string, previous: Role[] = []): Role[] {
  const roles = splitList([value]);
  for (const role of roles) {
    if (!isOneOf(ROLES, role)) {
      throw new InvalidArgumentError(`unknown role "${role}"; roles are ${ROLES.join(', ')}.`);
    }
  }
  return [...previous, ...(roles as Role[])];
}

function examples(...lines: string[]): string {
  return `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`;
}

/** Parsed options of the command plus the program's global ones (`--context`). */
function allOptions<T>(command: Command): T {
  return command.optsWithGlobals<T & object>();
}

interface ProgramState {
  exitCode: number;
}

function addControllerCommands(program: Command, io: CommandIo, state: ProgramState): void {
  const controller = program.command('controller').description('run a Grove controller').helpGroup('Administration:');
  controller
    .command('run')
    .description('run the controller in the foreground (REST API, scheduler, worker connections)')
    .option('-l, --listen <address>', 'address to listen on, HOST:PORT', '0.0.0.0:6120')
    .option(
      '--data-dir <dir>',
      'data directory (certificate, key, embedded database) (default: "$GROVE_HOME/controller")',
    )
    .option('--listen-grpc <address>', 'address for worker sessions (gRPC), HOST:PORT, or "off"', '0.0.0.0:6121')
    .option(
      '--listen-ssh <address>',
      'turn on the SSH gateway (ssh -J <service-account>@controller admin@<vm>) on HOST:PORT, e.g. 0.0.0.0:6122',
    )
    .option(
      '--ssh-host-key <file>',
      "the SSH gateway's host private key (default: an ed25519 key generated once in the data dir)",
    )
    .option('--insecure-no-tls', 'serve plain HTTP instead of HTTPS (only behind a TLS-terminating proxy or for tests)')
    .option('--tls-cert <file>', 'PEM certificate to serve instead of the generated self-signed one')
    .option('--tls-key <file>', 'PEM private key of --tls-cert')
    .option('--swagger-ui', 'serve Swagger UI at /v1/docs')
    .option('--log-format <format>', 'text or json (JSON lines for log pipelines; default: $GROVE_LOG_FORMAT or text)')
    .option('--worker-offline-timeout <duration>', 'a worker unseen for longer is offline, e.g. 90s, 3m (default: 3m)')
    .option(
      '--exec-session-retention-ttl <duration>',
      'how long a reconnectable exec session is kept after its command ended (default: 10m)',
    )
    .option(
      '--replica-name <name>',
      'name of this controller among those sharing one database (default: $GROVE_REPLICA_NAME or <host>-<random>)',
    )
    .option(
      '--relay-address <address>',
      "HOST:PORT where the other replicas reach this one's gRPC listener (default: the listener's address)",
    )
    .option(
      '--advertise-grpc-port <port>',
      "gRPC port workers are told to dial, e.g. a load balancer's (default: the bound port)",
    )
    .option(
      '--shutdown-grace <duration>',
      'on SIGTERM, how long sessions in progress may go on before they are cut (default: 5s)',
    )
    .addHelpText(
      'after',
      examples(
        'grove controller run',
        'grove controller run --listen 127.0.0.1:6120 --insecure-no-tls',
        'grove controller run --tls-cert /etc/grove/tls.crt --tls-key /etc/grove/tls.key',
        'grove controller run --listen-ssh 0.0.0.0:6122',
      ) +
        '\nEnvironment:\n' +
        "  GROVE_HOME                   Grove's home directory (default ~/.grove)\n" +
        '  GROVE_DATABASE_URL           postgres:// URL of the database (default: embedded database in the data dir)\n' +
        '  GROVE_BOOTSTRAP_ADMIN_TOKEN  token of the bootstrap-admin service account, set on every start\n' +
        '  GROVE_REPLICA_NAME, GROVE_RELAY_ADDRESS, GROVE_ADVERTISE_GRPC_PORT  as the flags (docs/high-availability.md)\n',
    )
    .action(async (_options: unknown, command: Command) => {
      state.exitCode = await commands.controller().controllerRun(io, allOptions(command));
    });
}

function addWorkerCommands(program: Command, io: CommandIo, state: ProgramState): void {
  const worker = program.command('worker').description('run a Grove worker on this Mac').helpGroup('Administration:');
  const collect = (value: string, previous: string[] = []) => [...previous, value];
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
  addWorkerServiceCommands(worker, io, collect);
}

function addWorkerServiceCommands(
  worker: Command,
  io: CommandIo,
  collect: (value: string, previous?: string[]) => string[],
): void {
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

function addDevCommand(program: Command, io: CommandIo, state: ProgramState): void {
  program
    .command('dev')
    .description('start a development cluster (controller + workers) and select a "dev" context for it')
    .helpGroup('Administration:')
    .option('-l, --listen <address>', 'address to listen on, HOST:PORT', '127.0.0.1:6120')
    .option('--data-dir <dir>', 'data directory, kept between runs (default: "$GROVE_HOME/dev")')
    .option('--workers <count>', 'number of workers to start (0 for none)', nonNegativeInteger, 1)
    .option(
      '--listen-ssh <address>',
      'address of the SSH gateway, HOST:PORT, or "off" (default: the listen address with port + 2, e.g. 6122)',
    )
    .addOption(
      new Option('--runtime <runtime>', 'VM runtime of the workers (tart needs macOS and Tart)')
        .choices(['synthetic', 'tart'])
        .default('synthetic'),
    )
    .addHelpText(
      'after',
      examples('grove dev', 'grove dev --workers 2', 'grove dev --listen 127.0.0.1:7000 --data-dir /tmp/grove-dev') +
        '\nThe controller serves plain HTTP on the listen address with authentication on; its bootstrap-admin\n' +
        'token is kept in the data dir and written into the "dev" context. Workers are named dev-worker-1..N.\n' +
        'Synthetic VMs run in the worker process: VM port 22 is a real SSH server (admin/admin) whose commands\n' +
        'run with /bin/sh in a scratch directory on this host, port 7 echoes. Stop everything with Ctrl-C.\n',
    )
    .action(async (_options: unknown, command: Command) => {
      state.exitCode = await commands.dev().devRun(io, allOptions(command));
    });
}

function addContextCommands(program: Command, io: CommandIo): void {
  const context = program
    .command('context')
    .description('manage the controllers this CLI talks to ($GROVE_HOME/config.yml)')
    .helpGroup('Administration:');
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

function addCreateCommands(program: Command, io: CommandIo): void {
  const create = program.command('create').description('create a resource').helpGroup('Working with resources:');
  create
    .command('vm')
    .description('create a VM; the scheduler assigns it to a matching worker')
    .argument('<name>', 'VM name, [A-Za-z0-9:-_.] (prefer [a-z0-9-], at most 63 characters)')
    .option('--image <image>', 'OCI image or local Tart VM to clone', DEFAULT_VM_IMAGE)
    .addOption(
      new Option('--image-pull-policy <policy>', 'when to pull the image')
        .choices(IMAGE_PULL_POLICIES)
        .default('IfNotPresent'),
    )
    .addOption(new Option('--os <os>', 'guest operating system').choices(OPERATING_SYSTEMS).default('darwin'))
    .addOption(new Option('--arch <arch>', 'CPU architecture').choices(ARCHITECTURES).default('arm64'))
    .addOption(new Option('--runtime <runtime>', 'VM runtime on the worker').choices(RUNTIMES).default('tart'))
    .option('--cpu <count>', 'number of CPUs (0: the worker default)', nonNegativeInteger, 4)
    .option('--memory <mib>', 'memory in MiB (0: the worker default)', nonNegativeInteger, 8192)
    .option('--disk-size <gb>', 'disk size in GB (0: the image default)', nonNegativeInteger, 0)
    .option('--net-softnet', 'isolate the VM network with Softnet')
    .option(
      '--net-softnet-allow <cidrs>',
      'CIDRs the VM may reach through Softnet (repeatable, comma-separated; implies --net-softnet)',
      collect,
    )
    .option(
      '--net-softnet-block <cidrs>',
      'CIDRs the VM may not reach through Softnet (repeatable, comma-separated; implies --net-softnet)',
      collect,
    )
    .option('--net-bridged <interface>', 'bridge the VM to this host network interface')
    .option('--headless', 'run without a graphical window (default)')
    .option('--no-headless', 'show the VM window on the worker')
    .option('--nested', 'enable nested virtualization')
    .option('--suspendable', 'allow suspending the VM instead of stopping it')
    .option('--username <name>', 'SSH user for the startup script, exec and ssh', 'admin')
    .option('--password <password>', 'SSH password for the startup script, exec and ssh', 'admin')
    .option('--resources <key=amount>', 'resources the VM takes from its worker (repeatable, comma-separated)', collect)
    .option('--labels <key=value>', 'labels a worker must carry to run the VM (repeatable, comma-separated)', collect)
    .option('--random-serial', 'give the VM a random serial number')
    .addOption(
      new Option('--restart-policy <policy>', 'restart the VM when it fails?')
        .choices(RESTART_POLICIES)
        .default('Never'),
    )
    .option('--startup-script <script>', 'script to run over SSH once the VM is up; "@path" reads it from a file')
    .option(
      '--host-dirs <name:path[:ro]>',
      "host directories to share into the VM (repeatable, comma-separated; must be allowed by the cluster's host-dir policies)",
      collect,
    )
    .addOption(outputOption())
    .addHelpText(
      'after',
      examples(
        'grove create vm ci-runner-1',
        'grove create vm builder --image ghcr.io/cirruslabs/macos-sequoia-xcode:latest --cpu 8 --memory 16384 --labels pool=ios',
        'grove create vm linux-1 --os linux --runtime tart --image ghcr.io/cirruslabs/ubuntu:latest --no-headless',
        'grove create vm sandbox --net-softnet-allow 10.0.0.0/8,192.168.0.0/16 --restart-policy OnFailure',
        'grove create vm job-7 --startup-script @./setup.sh --host-dirs src:/Users/ci/src:ro -o json',
      ),
    )
    .action(async (name: string, _options: unknown, command: Command) => {
      await commands.resource().createVm(io, name, allOptions(command));
    });
  create
    .command('service-account')
    .description('create a service account; its token is printed once')
    .argument('<name>', 'service account name, [A-Za-z0-9:-_.]')
    .option('--roles <role>', `roles to grant (repeatable, comma-separated): ${ROLES.join(', ')}`, collectRoles)
    .option('--token <token>', 'token to use (default: generated by the controller)')
    .addOption(outputOption())
    .addHelpText(
      'after',
      examples(
        'grove create service-account ci --roles compute:read --roles compute:write',
        'grove create service-account worker-1 --roles compute:read,compute:write',
        'grove create service-account viewer --roles compute:read -o json',
      ),
    )
    .action(async (name: string, _options: unknown, command: Command) => {
      await commands.resource().createServiceAccount(io, name, allOptions(command));
    });
  create
    .command('ssh-key')
    .description("attach an SSH public key to a service account, for logins to the controller's SSH gateway")
    .argument('<service-account>', 'service account the key logs in as')
    .argument('[file]', 'public key file (.pub); "-" or none: read the key from standard input')
    .option('--comment <text>', 'comment shown in lists (default: the comment of the key line)')
    .addOption(outputOption())
    .addHelpText(
      'after',
      examples(
        'grove create ssh-key ci ~/.ssh/id_ed25519.pub',
        'ssh-add -L | head -1 | grove create ssh-key ci --comment "build agent"',
      ) + '\nThen: ssh -J ci@<controller>:6122 admin@<vm-name> (see docs/ssh-gateway.md).\n',
    )
    .action(async (account: string, file: string | undefined, _options: unknown, command: Command) => {
      await commands.sshKey().createSshKey(io, account, file, allOptions(command));
    });
}

function addGetCommands(program: Command, io: CommandIo): void {
  const get = program.command('get').description('show one resource').helpGroup('Working with resources:');
  get
    .command('vm')
    .description('show a VM')
    .argument('<name>', 'VM name')
    .addOption(outputOption())
    .addHelpText('after', examples('grove get vm ci-runner-1', 'grove get vm ci-runner-1 -o json'))
    .action(async (name: string, _options: unknown, command: Command) => {
      await commands.resource().getVm(io, name, allOptions(command));
    });
  get
    .command('worker')
    .description('show a worker')
    .argument('<name>', 'worker name')
    .addOption(outputOption())
    .addHelpText('after', examples('grove get worker mac-mini-1', 'grove get worker mac-mini-1 -o yaml'))
    .action(async (name: string, _options: unknown, command: Command) => {
      await commands.resource().getWorker(io, name, allOptions(command));
    });
  get
    .command('service-account')
    .description('show a service account (its token is never shown again)')
    .argument('<name>', 'service account name')
    .addOption(outputOption())
    .addHelpText('after', examples('grove get service-account ci'))
    .action(async (name: string, _options: unknown, command: Command) => {
      await commands.resource().getServiceAccount(io, name, allOptions(command));
    });
  get
    .command('bootstrap-token')
    .description(
      'print a bootstrap token for a service account (its credentials and the pinned certificate) to install ' +
        'workers with',
    )
    .argument('<service-account>', 'service account the workers authenticate as')
    .option('--token <token>', "the account's token (checked against the controller)")
    .option('--rotate', 'give the account a new random token (the old one stops working) and use it')
    .addHelpText(
      'after',
      examples(
        'grove get bootstrap-token workers --token "$WORKERS_TOKEN"',
        'grove get bootstrap-token workers --rotate > token.txt',
        'grove get bootstrap-token bootstrap-admin   # the account of the current context',
      ) +
        '\nThe controller keeps only hashes of tokens, so it cannot give a token back: pass it with --token, use\n' +
        "the current context's own account, or --rotate. Only the token is printed on standard output.\n",
    )
    .action(async (name: string, _options: unknown, command: Command) => {
      await commands.bootstrapToken().getBootstrapToken(io, name, allOptions(command));
    });
  get
    .command('cluster-settings')
    .description('show the cluster settings (host-directory policies, scheduler profile)')
    .addOption(outputOption())
    .addHelpText('after', examples('grove get cluster-settings', 'grove get cluster-settings -o json'))
    .action(async (_options: unknown, command: Command) => {
      await commands.resource().getClusterSettings(io, allOptions(command));
    });
}

function addListCommands(program: Command, io: CommandIo): void {
  const list = program.command('list').description('list resources').helpGroup('Working with resources:');
  list
    .command('vms')
    .description('list VMs: NAME CREATED IMAGE STATUS RESTART-POLICY WORKER')
    .addOption(outputOption())
    .addHelpText('after', examples('grove list vms', 'grove list vms -o json'))
    .action(async (_options: unknown, command: Command) => {
      await commands.resource().listVms(io, allOptions(command));
    });
  list
    .command('workers')
    .description('list workers: NAME LAST-SEEN SCHEDULING-PAUSED SESSION (the controller replica holding it)')
    .addOption(outputOption())
    .addHelpText('after', examples('grove list workers', 'grove list workers -o yaml'))
    .action(async (_options: unknown, command: Command) => {
      await commands.resource().listWorkers(io, allOptions(command));
    });
  list
    .command('service-accounts')
    .description('list service accounts: NAME ROLES CREATED')
    .addOption(outputOption())
    .addHelpText('after', examples('grove list service-accounts'))
    .action(async (_options: unknown, command: Command) => {
      await commands.resource().listServiceAccounts(io, allOptions(command));
    });
  list
    .command('ssh-keys')
    .description('list the SSH public keys of a service account: FINGERPRINT TYPE COMMENT CREATED')
    .argument('<service-account>', 'service account name')
    .addOption(outputOption())
    .addHelpText('after', examples('grove list ssh-keys ci', 'grove list ssh-keys ci -o json'))
    .action(async (account: string, _options: unknown, command: Command) => {
      await commands.sshKey().listSshKeys(io, account, allOptions(command));
    });
}

function addDeleteCommands(program: Command, io: CommandIo): void {
  const del = program.command('delete').description('delete a resource').helpGroup('Working with resources:');
  const kinds = [
    ['vm', 'delete a VM and its events; its worker stops and removes it', 'grove delete vm ci-runner-1'],
    ['worker', 'delete a worker; VMs still assigned to it fail', 'grove delete worker mac-mini-1'],
    ['service-account', 'delete a service account', 'grove delete service-account ci'],
  ] as const;
  for (const [kind, description, example] of kinds) {
    del
      .command(kind)
      .description(description)
      .argument('<name>', `${kind} name`)
      .addHelpText('after', examples(example))
      .action(async (name: string, _options: unknown, command: Command) => {
        await commands.resource().deleteResource(io, kind, name, allOptions(command));
      });
  }
  del
    .command('ssh-key')
    .description('remove an SSH public key from a service account')
    .argument('<service-account>', 'service account name')
    .argument('<fingerprint>', 'the key\'s fingerprint as "grove list ssh-keys" shows it (SHA256:…)')
    .addHelpText('after', examples('grove delete ssh-key ci SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s'))
    .action(async (account: string, fingerprint: string, _options: unknown, command: Command) => {
      await commands.sshKey().deleteSshKey(io, account, fingerprint, allOptions(command));
    });
}

function addOperationCommands(program: Command, io: CommandIo): void {
  const logs = program.command('logs').description('show logs').helpGroup('Working with resources:');
  logs
    .command('vm')
    .description("print a VM's log lines (startup-script output), oldest first")
    .argument('<name>', 'VM name')
    .option('--tail <lines>', 'print only the last N lines', positiveInteger)
    .addHelpText('after', examples('grove logs vm ci-runner-1', 'grove logs vm ci-runner-1 --tail 20'))
    .action(async (name: string, _options: unknown, command: Command) => {
      await commands.resource().logsVm(io, name, allOptions(command));
    });

  const pause = program.command('pause').description('pause scheduling').helpGroup('Working with resources:');
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

  const resume = program.command('resume').description('resume scheduling').helpGroup('Working with resources:');
  resume
    .command('worker')
    .description('allow scheduling VMs on a paused worker again')
    .argument('<name>', 'worker name')
    .addHelpText('after', examples('grove resume worker mac-mini-1'))
    .action(async (name: string, _options: unknown, command: Command) => {
      await commands.worker().resumeWorker(io, name, allOptions(command));
    });

  const set = program.command('set').description('change settings').helpGroup('Administration:');
  set
    .command('cluster-settings')
    .description('add host-directory policies and/or set the scheduler profile (other settings are kept)')
    .option(
      '--host-dir-policies <prefix[:ro]>',
      'path prefixes VMs may mount from hosts; appended to the existing ones (repeatable, comma-separated)',
      collect,
    )
    .addOption(
      new Option('--scheduler-profile <profile>', 'how to place VMs: pack workers or spread the load').choices(
        SCHEDULER_PROFILES,
      ),
    )
    .addOption(outputOption())
    .addHelpText(
      'after',
      examples(
        'grove set cluster-settings --host-dir-policies /Users/ci/src:ro',
        'grove set cluster-settings --host-dir-policies /opt/cache,/Volumes/data:ro --scheduler-profile distribute-load',
      ),
    )
    .action(async (_options: unknown, command: Command) => {
      await commands.resource().setClusterSettings(io, allOptions(command));
    });
}

const CONNECT_GROUP = 'Connecting to VMs:';

/** `[LOCAL:]REMOTE` as a command argument: a bad one is a usage error naming the argument. */
function portSpecArgument(value: string): PortSpec {
  try {
    return parsePortSpec(value);
  } catch (err) {
    throw new InvalidArgumentError(`${(err as Error).message}.`);
  }
}

function waitOption(what: string, defaultSeconds: number): Option {
  return new Option('-w, --wait <seconds>', what).argParser(nonNegativeInteger).default(defaultSeconds);
}

function addPortForwardCommands(program: Command, io: CommandIo): void {
  const portForward = program
    .command('port-forward')
    .description('forward a local TCP port to a port of a VM or worker, through the controller')
    .helpGroup(CONNECT_GROUP);
  const kinds = [
    {
      kind: 'vm',
      description: 'forward a local TCP port to a port of a VM (each connection gets its own tunnel)',
      wait: 'how long each connection may wait for the VM to run and its worker to connect',
      examples: [
        "grove port-forward vm ci-runner-1 8080:80   # http://127.0.0.1:8080 reaches the VM's port 80",
        'grove port-forward vm ci-runner-1 5432      # a random local port; the first line says which',
        'grove port-forward vm ci-runner-1 2222:22 --address 0.0.0.0 --wait 300',
      ],
    },
    {
      kind: 'worker',
      description: 'forward a local TCP port to a port on a worker host (its localhost); needs the admin:write role',
      wait: 'how long each connection may wait for the worker to connect',
      examples: ['grove port-forward worker mac-mini-1 5900', 'grove port-forward worker mac-mini-1 8022:22'],
    },
  ] as const;
  for (const k of kinds) {
    portForward
      .command(k.kind)
      .description(k.description)
      .argument('<name>', k.kind === 'vm' ? 'VM name' : 'worker name')
      .argument(
        '<[local:]remote>',
        'REMOTE port (1-65535), or LOCAL:REMOTE; LOCAL 0 or left out: a random free port',
        portSpecArgument,
      )
      .addOption(waitOption(k.wait, 60))
      .option('--address <address>', 'local address to listen on (0.0.0.0: every interface)', '127.0.0.1')
      .addHelpText(
        'after',
        examples(...k.examples) +
          `\nPrints "Forwarding 127.0.0.1:<port> -> ${k.kind}/<name>:<remote>" and forwards until Ctrl-C (exit code\n` +
          '0). A connection that fails is reported on stderr ("connection 3: ...") and closed; the others and the\n' +
          'listener keep going.\n',
      )
      .action(async (name: string, spec: PortSpec, _options: unknown, command: Command) => {
        await commands.connect().portForward(io, k.kind, name, spec, allOptions(command));
      });
  }
}

/**
 * Like ssh, options may also follow the VM name: they are parsed here (commander stops at the first argument when
 * passing options through), up to the first other word, which starts the remote command. Returns the command words.
 */
function optionsAfterName(command: Command, words: string[]): string[] {
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

function addSshCommand(program: Command, io: CommandIo, state: ProgramState): void {
  // Positional options for `ssh vm`: see needsPositionalOptions and optionsAfterName.
  const ssh = program
    .command('ssh')
    .description('run a command or a shell on a VM over SSH')
    .helpGroup(CONNECT_GROUP)
    .enablePositionalOptions();
  ssh
    .command('vm')
    .description(
      'run a command on a VM over SSH (through the controller, no network route to the VM needed), or open a shell; ' +
        'exits with the remote exit status',
    )
    .argument('<name>', 'VM name')
    .argument('[command...]', 'command to run, its words joined with spaces as ssh does; none: an interactive shell')
    .option('-u, --username <name>', "SSH user (default: the VM's username if it has a password too, else admin)")
    .option(
      '-p, --password <password>',
      "SSH password (default: the VM's password if it has a username too, else admin)",
    )
    .option('-t, --tty', 'ask for a PTY even when running a command (like ssh -t)')
    .addOption(waitOption('how long to wait for the VM to run and its worker to connect', 60))
    .addOption(new Option('--context <name>', 'the program option, also accepted here').hideHelp())
    .passThroughOptions()
    .addHelpText(
      'after',
      examples(
        'grove ssh vm ci-runner-1                       # interactive shell',
        'grove ssh vm ci-runner-1 uname -a',
        "grove ssh vm ci-runner-1 'sh -s' < setup.sh    # run a local script",
        'grove ssh vm ci-runner-1 -t top                # a command that needs a terminal',
        'grove ssh vm ci-runner-1 -u ci -p secret ls -la /',
      ) +
        '\nOptions go before the remote command (before or after the VM name); the first other word starts the\n' +
        'command, and "--" ends the options explicitly. Exit code: the remote command\'s, 128+N when signal N ended\n' +
        'it, 255 when the VM could not be reached or the login failed.\n',
    )
    .action(async (name: string, words: string[], _options: unknown, command: Command) => {
      const remote = optionsAfterName(command, words);
      state.exitCode = await commands.connect().sshVm(io, name, remote, allOptions(command));
    });
}

function addExecCommand(program: Command, io: CommandIo, state: ProgramState): void {
  // Positional options, as for `ssh vm`: see needsPositionalOptions and optionsAfterName.
  const exec = program
    .command('exec')
    .description('run a program in a VM through the controller (no SSH client needed)')
    .helpGroup(CONNECT_GROUP)
    .enablePositionalOptions();
  exec
    .command('vm')
    .description(
      "run a program in a VM with the controller's exec API and exit with its exit code; with --session, in a " +
        'session that survives disconnects and can be reattached to',
    )
    .argument('<name>', 'VM name')
    .argument('[command...]', 'program and arguments, each word passed as is (no shell: use sh -c for one)')
    .option('-i, --interactive', 'send standard input to the program (its end closes the remote stdin)')
    .option('-t, --tty', 'run on a pseudo-terminal of the local window size (24x80 without a terminal)')
    .option(
      '-e, --env <name=value>',
      'set an environment variable (repeatable); -e NAME passes the local value',
      collect,
    )
    .option('-w, --workdir <dir>', 'working directory of the program')
    .option('--session <id>', 'run in (or, without a program, reattach to) the reconnectable session with this id')
    .option('--wait <seconds>', 'how long to wait for the VM to run and the program to start', nonNegativeInteger, 60)
    .addOption(new Option('--context <name>', 'the program option, also accepted here').hideHelp())
    .passThroughOptions()
    .addHelpText(
      'after',
      examples(
        "grove exec vm v1 -- sh -c 'echo out; echo err >&2; exit 7'  # out, err (on stderr), exit code 7",
        'grove exec vm v1 -- uname -a',
        'grove exec vm v1 -i -- sh -s < setup.sh                    # run a local script',
        'tar -cz src | grove exec vm v1 -i -w /tmp -- tar -xzf -    # copy a directory in',
        'grove exec vm v1 -it -- zsh                                # an interactive shell',
        'grove exec vm v1 -e GREETING=hello -e HOME -w /tmp -- env',
        'grove exec vm v1 --session build -- make -C /src           # Ctrl-C detaches, make goes on',
        'grove exec vm v1 --session build                           # reattach: the missed output, then live',
      ) +
        '\nThe words after "--" are the program and its arguments, exactly as given: "grove exec vm v1 -- ls -l"\n' +
        'runs ls with -l, and "grove exec vm v1 -- \'ls -l | wc -l\'" looks for a program with that whole name\n' +
        "(docker exec, kubectl exec and tart exec do the same); pipes and redirections need sh -c '...'. Options\n" +
        'go before "--" (or before the first word of the program).\n' +
        "\nExit code: the program's (0-255); 255 when it could not be started or its end is unknown (the controller\n" +
        'refused the request or reported an error, or the connection broke); 130 after Ctrl-C; 2 for a bad command\n' +
        'line.\n' +
        '\nCtrl-C: without --session it closes the connection, and the controller stops the program. With --session\n' +
        'it detaches: the program keeps running, and "grove exec vm NAME --session ID" later shows what it missed\n' +
        'and what follows. With -it the terminal is raw and Ctrl-C goes to the program; Ctrl-P Ctrl-Q detaches from\n' +
        'a session. -t without -i gives the program a PTY but leaves the keyboard alone, as docker exec -t does.\n' +
        'A session whose connection drops is reconnected to a few times, without repeating output; a finished\n' +
        'session is removed once this command has shown its end. See docs/cli-exec.md.\n',
    )
    .action(async (name: string, words: string[], _options: unknown, command: Command) => {
      const remote = optionsAfterName(command, words);
      state.exitCode = await commands.exec().execVm(io, name, remote, allOptions(command));
    });
}

function addVncAndIpCommands(program: Command, io: CommandIo): void {
  const vnc = program
    .command('vnc')
    .description("open a VNC viewer on a VM's or worker's screen")
    .helpGroup(CONNECT_GROUP);
  const kinds = [
    {
      kind: 'vm',
      description: "forward a random local port to a VM's VNC port (5900) and open vnc://USER:PASSWORD@127.0.0.1:PORT",
      username: "VNC user in the URL (default: the VM's username if it has a password too, else admin)",
      password: "VNC password in the URL (default: the VM's password if it has a username too, else admin)",
      wait: 'how long each connection may wait for the VM to run and its worker to connect',
      examples: ['grove vnc vm ci-runner-1', 'grove vnc vm ci-runner-1 --no-open   # print the URL only'],
    },
    {
      kind: 'worker',
      description: "forward a random local port to a worker host's Screen Sharing port (5900) and open it",
      username: 'user to put in the URL (default: none, the viewer asks)',
      password: 'password to put in the URL (default: none, the viewer asks)',
      wait: 'how long each connection may wait for the worker to connect',
      examples: ['grove vnc worker mac-mini-1', 'grove vnc worker mac-mini-1 -u admin -p "$PASSWORD" --no-open'],
    },
  ] as const;
  for (const k of kinds) {
    vnc
      .command(k.kind)
      .description(k.description)
      .argument('<name>', k.kind === 'vm' ? 'VM name' : 'worker name')
      .option('-u, --username <name>', k.username)
      .option('-p, --password <password>', k.password)
      .addOption(waitOption(k.wait, 60))
      .option('--no-open', 'only print the URL; do not start a viewer')
      .addHelpText(
        'after',
        examples(...k.examples) +
          '\nThe viewer is started with "open" on macOS and "xdg-open" on Linux. Forwards until Ctrl-C.\n',
      )
      .action(async (name: string, _options: unknown, command: Command) => {
        await commands.connect().vnc(io, k.kind, name, allOptions(command));
      });
  }

  const ip = program.command('ip').description('show IP addresses').helpGroup(CONNECT_GROUP);
  ip.command('vm')
    .description("print a VM's IP address (as its worker sees it)")
    .argument('<name>', 'VM name')
    .addOption(waitOption('wait up to this long for the VM to run and have an address', 0))
    .addHelpText('after', examples('grove ip vm ci-runner-1', 'grove ip vm ci-runner-1 --wait 120'))
    .action(async (name: string, _options: unknown, command: Command) => {
      await commands.connect().ipVm(io, name, allOptions(command));
    });
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
  addCreateCommands(program, io);
  addGetCommands(program, io);
  addListCommands(program, io);
  addDeleteCommands(program, io);
  addOperationCommands(program, io);
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
