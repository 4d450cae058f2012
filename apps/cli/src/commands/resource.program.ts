import { type Command, Option } from 'commander';
import {
  ARCHITECTURES,
  IMAGE_PULL_POLICIES,
  OPERATING_SYSTEMS,
  RESTART_POLICIES,
  RUNTIMES,
  SCHEDULER_PROFILES,
} from '@grove/resources';
import { DEFAULT_VM_IMAGE } from '../vm-create-flags';
import type { CommandIo } from './io';
import {
  ADMINISTRATION_GROUP,
  allOptions,
  collect,
  commands,
  examples,
  nonNegativeInteger,
  outputOption,
  positiveInteger,
  RESOURCES_GROUP,
  type ResourceVerbs,
} from './program-helpers';
import { addServiceAccountCommands } from './service-account.program';

/**
 * `grove create|get|list|delete`: VMs, workers and the cluster settings here, service accounts (with their SSH keys and
 * bootstrap tokens) in service-account.program.ts. The handlers are in resource.commands.ts. Help lists subcommands in
 * the order they are added, hence vm, worker, service-account, then cluster-settings.
 */
export function addResourceCommands(program: Command, io: CommandIo): void {
  const verbs: ResourceVerbs = {
    create: program.command('create').description('create a resource').helpGroup(RESOURCES_GROUP),
    get: program.command('get').description('show one resource').helpGroup(RESOURCES_GROUP),
    list: program.command('list').description('list resources').helpGroup(RESOURCES_GROUP),
    delete: program.command('delete').description('delete a resource').helpGroup(RESOURCES_GROUP),
  };
  verbs.create
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
    .option(
      '--net-softnet-expose <external:internal>',
      'forward worker port EXTERNAL to guest port INTERNAL through Softnet (repeatable, comma-separated; implies ' +
        '--net-softnet; needs a worker that reports the vm-exposed-ports capability; fixed once the VM is scheduled)',
      collect,
    )
    .option(
      '--endpoint <name:proto:vmport[:min-max]>',
      'expose VM port VMPORT on a port of its worker: the worker listens on WORKERPORT, on the first free port of ' +
        'MIN-MAX, or without either on a port it picks, and relays PROTO (tcp or udp) to the VM; ' +
        '"grove get vm" shows the worker port (repeatable, one endpoint each; needs a worker with the vm-endpoints ' +
        'capability; Grove workers listen on 127.0.0.1 unless run with --endpoint-address)',
      collect,
    )
    .option(
      '--host-process <name=command>',
      'run COMMAND (a PROGRAM and its ARGs) on the worker beside the VM, in a directory of its own, as host process ' +
        'NAME; it must listen on the Unix socket $ORCHARD_PROCESS_SOCKET, which "grove port-forward vm VM ' +
        '--host-process NAME" reaches. The command is split into words like a shell does (quotes, backslashes) but nothing is expanded: ' +
        'the worker fills in ${ORCHARD_PROCESS_SOCKET}, ${ORCHARD_WORKER_NAME}, ${ORCHARD_VM_NAME} and ' +
        "${ORCHARD_VM_CONTROL_SOCKET} in ARGs, so single-quote the whole value to keep your shell's hands off them " +
        '(repeatable, one process each; needs the role host-process:write and a worker with the host-processes ' +
        'capability)',
      collect,
    )
    .option(
      '--host-process-env <name:key=value>',
      'set environment variable KEY of host process NAME (repeatable; the worker also sets ORCHARD_PROCESS_SOCKET, ' +
        'ORCHARD_WORKER_NAME, ORCHARD_VM_NAME, ORCHARD_VM_CONTROL_SOCKET and PATH)',
      collect,
    )
    .option('--net-bridged <interface>', 'bridge the VM to this host network interface')
    .option('--headless', 'run without a graphical window (default)')
    .option('--no-headless', 'show the VM window on the worker')
    .option('--nested', 'enable nested virtualization')
    .option('--suspendable', 'allow suspending the VM instead of stopping it')
    .option('--audio', 'pass audio through to the worker (off by default; fixed at creation)')
    .option('--clipboard', 'share the clipboard with the worker (off by default; fixed at creation)')
    .option('--usb-accessories', "keep Tart's emulated USB keyboard and pointing devices (Tart's default)")
    .option(
      '--no-usb-accessories',
      'run without them (tart run --no-usb-accessories, needs a Tart that has the flag); without either flag the ' +
        'VM leaves it to Tart',
    )
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
        'grove create vm web-1 --net-softnet-expose 8080:80,2222:22 --labels org.cirruslabs.orchard.worker-name=mac-1',
        'grove create vm svc-1 --endpoint ssh:tcp:22:2222 --endpoint dns:udp:53:5300-5399 --endpoint web:tcp:80',
        "grove create vm web-2 --host-process 'proxy=/usr/bin/socat UNIX-LISTEN:${ORCHARD_PROCESS_SOCKET},fork " +
          "TCP:127.0.0.1:3128' --host-process-env proxy:LOG_LEVEL=debug",
      ),
    )
    .action(async (name: string, _options: unknown, command: Command) => {
      await commands.resource().createVm(io, name, allOptions(command));
    });
  verbs.get
    .command('vm')
    .description('show a VM')
    .argument('<name>', 'VM name')
    .addOption(outputOption())
    .addHelpText('after', examples('grove get vm ci-runner-1', 'grove get vm ci-runner-1 -o json'))
    .action(async (name: string, _options: unknown, command: Command) => {
      await commands.resource().getVm(io, name, allOptions(command));
    });
  verbs.get
    .command('worker')
    .description('show a worker')
    .argument('<name>', 'worker name')
    .addOption(outputOption())
    .addHelpText('after', examples('grove get worker mac-mini-1', 'grove get worker mac-mini-1 -o yaml'))
    .action(async (name: string, _options: unknown, command: Command) => {
      await commands.resource().getWorker(io, name, allOptions(command));
    });
  verbs.list
    .command('vms')
    .description('list VMs: NAME CREATED IMAGE STATUS RESTART-POLICY WORKER')
    .addOption(outputOption())
    .addHelpText('after', examples('grove list vms', 'grove list vms -o json'))
    .action(async (_options: unknown, command: Command) => {
      await commands.resource().listVms(io, allOptions(command));
    });
  verbs.list
    .command('workers')
    .description('list workers: NAME LAST-SEEN SCHEDULING-PAUSED SESSION (the controller replica holding it)')
    .addOption(outputOption())
    .addHelpText('after', examples('grove list workers', 'grove list workers -o yaml'))
    .action(async (_options: unknown, command: Command) => {
      await commands.resource().listWorkers(io, allOptions(command));
    });
  const kinds = [
    ['vm', 'delete a VM and its events; its worker stops and removes it', 'grove delete vm ci-runner-1'],
    ['worker', 'delete a worker; VMs still assigned to it fail', 'grove delete worker mac-mini-1'],
  ] as const;
  for (const [kind, description, example] of kinds) {
    verbs.delete
      .command(kind)
      .description(description)
      .argument('<name>', `${kind} name`)
      .addHelpText('after', examples(example))
      .action(async (name: string, _options: unknown, command: Command) => {
        await commands.resource().deleteResource(io, kind, name, allOptions(command));
      });
  }

  addServiceAccountCommands(verbs, io);

  verbs.get
    .command('cluster-settings')
    .description('show the cluster settings (host-directory policies, scheduler profile)')
    .addOption(outputOption())
    .addHelpText('after', examples('grove get cluster-settings', 'grove get cluster-settings -o json'))
    .action(async (_options: unknown, command: Command) => {
      await commands.resource().getClusterSettings(io, allOptions(command));
    });
}

/** `grove logs vm`. */
export function addLogsCommand(program: Command, io: CommandIo): void {
  const logs = program.command('logs').description('show logs').helpGroup(RESOURCES_GROUP);
  logs
    .command('vm')
    .description("print a VM's log lines (startup-script output), oldest first")
    .argument('<name>', 'VM name')
    .option('--tail <lines>', 'print only the last N lines', positiveInteger)
    .addHelpText('after', examples('grove logs vm ci-runner-1', 'grove logs vm ci-runner-1 --tail 20'))
    .action(async (name: string, _options: unknown, command: Command) => {
      await commands.resource().logsVm(io, name, allOptions(command));
    });
}

/** `grove set cluster-settings`. */
export function addSetCommand(program: Command, io: CommandIo): void {
  const set = program.command('set').description('change settings').helpGroup(ADMINISTRATION_GROUP);
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
