import { existsSync, rmSync } from 'node:fs';
import { flag, intValue, value } from './args';
import { agentClient, execViaAgent, resolveIpViaAgent } from './agent-client';
import type { Command } from './context';
import { TartRuntimeError, vmNotRunning } from './errors';
import { findLease, readArp } from './leases';
import { normalizeMac } from './names';
import { say, sleep } from './output';

export const ip: Command = {
  spec: {
    name: 'ip',
    usage: '<name> [--wait <wait>] [--resolver <resolver>]',
    abstract: "Get VM's IP address",
    options: [
      { long: 'wait', kind: 'value', integer: true },
      { long: 'resolver', kind: 'value', choices: ['dhcp', 'arp', 'agent'] },
    ],
    positionals: [{ name: 'name' }],
  },
  async run({ home, knobs }, args) {
    const vm = home.vm(args.positionals[0]).require();
    const config = vm.config();
    const resolver = value(args, 'resolver') ?? 'dhcp';
    const deadline = Date.now() + (intValue(args, 'wait') ?? 0) * 1000;
    const client = resolver === 'agent' ? agentClient(vm) : undefined;

    const attempt = async (): Promise<string | undefined> => {
      switch (resolver) {
        case 'dhcp':
          // Like bootpd's lease file, this does not care whether the VM runs: a stopped VM's valid lease is returned.
          return findLease(knobs.leasesFile, config.macAddress)?.ip;
        case 'arp': {
          // Only bridged VMs show up in the (stand-in's) ARP cache, and only while they run.
          const record = vm.runRecord();
          return record?.bridged ? readArp(home)[normalizeMac(config.macAddress)] : undefined;
        }
        default:
          return client ? resolveIpViaAgent(client) : undefined;
      }
    };

    for (;;) {
      const address = await attempt();
      if (address !== undefined) {
        client?.close();
        say(address);
        return 0;
      }
      if (Date.now() >= deadline) {
        break;
      }
      await sleep(knobs.ipPollMs);
    }
    client?.close();
    let message = 'no IP address found';
    if (!vm.running()) {
      message += ', is your VM running?';
    }
    if (resolver === 'agent') {
      message += ' (also make sure that Guest agent for Tart is running inside of a VM)';
    } else if (resolver === 'arp' && config.os === 'linux') {
      message += ' (not all Linux distributions are compatible with the ARP resolver)';
    }
    throw new TartRuntimeError(message);
  },
};

export const stop: Command = {
  spec: {
    name: 'stop',
    usage: '<name> [--timeout <timeout>]',
    abstract: 'Stop a VM',
    options: [{ long: 'timeout', short: 't', kind: 'value', integer: true }],
    positionals: [{ name: 'name' }],
  },
  async run({ home }, args) {
    const vm = home.vm(args.positionals[0]).require();
    const holder = vm.runRecord();
    if (!holder) {
      if (existsSync(vm.statePath)) {
        rmSync(vm.statePath, { force: true }); // stopping a suspended VM discards its saved state
        return 0;
      }
      throw vmNotRunning(vm.name);
    }
    const deadline = Date.now() + (intValue(args, 'timeout') ?? 30) * 1000;
    process.kill(holder.pid, 'SIGINT');
    while (Date.now() < deadline) {
      await sleep(100);
      if (!vm.running()) {
        return 0;
      }
    }
    try {
      process.kill(holder.pid, 'SIGKILL');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') {
        throw new TartRuntimeError(`failed to forcefully terminate the VM "${vm.name}": ${(err as Error).message}`);
      }
    }
    return 0;
  },
};

export const suspend: Command = {
  spec: {
    name: 'suspend',
    usage: '<name>',
    abstract: 'Suspend a VM',
    options: [],
    positionals: [{ name: 'name' }],
  },
  run({ home }, args) {
    const vm = home.vm(args.positionals[0]).require();
    const holder = vm.runRecord();
    if (!holder) {
      // Tart wraps the not-running message twice (a real bug kept for fidelity, tart.md §1.2 `suspend`).
      throw new TartRuntimeError(`VM "${vmNotRunning(vm.name).message}" is not running`, 2);
    }
    try {
      process.kill(holder.pid, 'SIGUSR1');
    } catch {
      throw new TartRuntimeError(
        `Failed to suspend the VM: failed to send SIGUSR1 signal to the "tart run" process running VM "${vm.name}"`,
      );
    }
    return Promise.resolve(0);
  },
};

export const exec: Command = {
  spec: {
    name: 'exec',
    usage: '[-i] [-t] <name> <command> ...',
    abstract: 'Execute a command in a running VM',
    options: [
      { long: 'interactive', short: 'i', kind: 'flag' },
      { long: 'tty', short: 't', kind: 'flag' },
    ],
    positionals: [{ name: 'name' }],
    passthroughAfterFirst: true,
  },
  async run({ home, knobs }, args) {
    const vm = home.vm(args.positionals[0]).require();
    if (!vm.running()) {
      throw vmNotRunning(vm.name);
    }
    return execViaAgent(agentClient(vm), {
      command: args.passthrough,
      interactive: flag(args, 'interactive'),
      tty: flag(args, 'tty'),
      connectTimeoutMs: knobs.execConnectTimeoutMs,
    });
  },
};
