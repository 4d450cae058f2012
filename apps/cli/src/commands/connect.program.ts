import { type Command, InvalidArgumentError, Option } from 'commander';
import { parsePortSpec, type PortSpec } from '../connect/port-spec';
import type { CommandIo } from './io';
import {
  allOptions,
  commands,
  CONNECT_GROUP,
  examples,
  nonNegativeInteger,
  optionsAfterName,
  type ProgramState,
} from './program-helpers';

// `grove port-forward`, `ssh`, `vnc` and `ip`; their handlers are in connect.commands.ts. (`exec`, listed among them
// in help, is in exec.program.ts.)

/** `[LOCAL:]REMOTE` as a command argument: a bad one is a usage error naming the argument. */
function portSpecArgument(value: string): PortSpec {
  try {
    return parsePortSpec(value);
  } catch (err) {
    throw new InvalidArgumentError(`${(err as Error).message}.`);
  }
}

/**
 * The port argument of `grove port-forward vm`: `[LOCAL:]REMOTE`, or with `--target` or `--host-process` (`instead`)
 * only the LOCAL port (optional, a random free one when left out). Which one it is depends on an option, so it is
 * parsed in the action, and a bad one is reported as commander reports a bad argument (usage error, exit code 2).
 */
function vmPortSpec(command: Command, text: string | undefined, instead: string | undefined): PortSpec {
  const invalid = (message: string): never =>
    command.error(`error: command-argument value '${text}' is invalid for argument '[local:]remote'. ${message}.`, {
      exitCode: 2,
      code: 'commander.invalidArgument',
    });
  if (instead === undefined) {
    if (text === undefined) {
      return command.error("error: missing required argument '[local:]remote' (or --target, or --host-process)", {
        exitCode: 2,
        code: 'commander.missingArgument',
      });
    }
    try {
      return parsePortSpec(text);
    } catch (err) {
      return invalid((err as Error).message);
    }
  }
  if (text === undefined) {
    return { local: 0, remote: 0 };
  }
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) {
    return invalid(`With ${instead} it is the LOCAL port only, a number from 0 to 65535`);
  }
  return { local: Number(text), remote: 0 };
}

function waitOption(what: string, defaultSeconds: number): Option {
  return new Option('-w, --wait <seconds>', what).argParser(nonNegativeInteger).default(defaultSeconds);
}

export function addPortForwardCommands(program: Command, io: CommandIo): void {
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
    if (k.kind === 'vm') {
      addVmPortForwardCommand(portForward, io, k);
      continue;
    }
    portForward
      .command(k.kind)
      .description(k.description)
      .argument('<name>', 'worker name')
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
 * `grove port-forward vm`: like the worker's, plus `--target tart-guest-agent` (orchard-2026.md §1.2.4) and
 * `--host-process NAME` (§1.2.3).
 */
function addVmPortForwardCommand(
  portForward: Command,
  io: CommandIo,
  k: { description: string; wait: string; examples: readonly string[] },
): void {
  portForward
    .command('vm')
    .description(k.description)
    .argument('<name>', 'VM name')
    .argument(
      '[[local:]remote]',
      'REMOTE port (1-65535), or LOCAL:REMOTE; LOCAL 0 or left out: a random free port. With --target or ' +
        '--host-process: the LOCAL port only, or nothing',
    )
    .addOption(
      new Option(
        '--target <target>',
        "forward to this instead of a port: tart-guest-agent, the VM's Tart guest agent (gRPC service Agent: " +
          'Exec, ResolveIP); needs the role compute:write or compute:connect:tart-guest-agent',
      ).choices(['tart-guest-agent']),
    )
    .addOption(
      new Option(
        '--host-process <name>',
        'forward to this host process of the VM (grove create vm --host-process) instead of a port: to the Unix ' +
          'socket it listens on, on the worker; needs the role host-process:connect besides compute:write or ' +
          'compute:connect',
      ).conflicts('target'),
    )
    .addOption(waitOption(k.wait, 60))
    .option('--address <address>', 'local address to listen on (0.0.0.0: every interface)', '127.0.0.1')
    .addHelpText(
      'after',
      examples(
        ...k.examples,
        "grove port-forward vm ci-runner-1 50051 --target tart-guest-agent   # gRPC to the VM's agent on :50051",
        'grove port-forward vm web-2 3128 --host-process proxy   # host process "proxy" of web-2 on :3128',
      ) +
        '\nPrints "Forwarding 127.0.0.1:<port> -> vm/<name>:<remote>" and forwards until Ctrl-C (exit code 0). A\n' +
        'connection that fails is reported on stderr ("connection 3: ...") and closed; the others and the listener\n' +
        "keep going. With --target tart-guest-agent the local port speaks the Tart guest agent's gRPC (plaintext\n" +
        'HTTP/2, the service of tart exec), e.g. grpcurl -plaintext -import-path DIR -proto agent.proto\n' +
        '127.0.0.1:<port> Agent/ResolveIP. With --host-process NAME it speaks whatever that process serves on its\n' +
        'socket, and the first line reads "-> vm/<name>, host process "NAME"".\n',
    )
    .action(async (name: string, text: string | undefined, _options: unknown, command: Command) => {
      const options = allOptions<{ target?: 'tart-guest-agent'; hostProcess?: string }>(command);
      const instead =
        options.target !== undefined ? '--target' : options.hostProcess !== undefined ? '--host-process' : undefined;
      const spec = vmPortSpec(command, text, instead);
      await commands.connect().portForward(io, 'vm', name, spec, allOptions(command));
    });
}

export function addSshCommand(program: Command, io: CommandIo, state: ProgramState): void {
  // Positional options for `ssh vm`: see needsPositionalOptions (program.ts) and optionsAfterName.
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

export function addVncAndIpCommands(program: Command, io: CommandIo): void {
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
