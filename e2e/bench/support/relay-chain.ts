import { join } from 'node:path';
import { startNodeProcess, waitFor, type RunningProcess } from '@grove/testing';
import { tcpDial } from './measure';
import { dialsTo, type BenchPath } from './paths';
import type { TargetPorts } from './targets';

const RELAY_SCRIPT = join(__dirname, 'relay-process.js');

/** Starts one relay process in front of `ports` and resolves with the ports it listens on, in the same order. */
async function startRelay(ports: number[], started: RunningProcess[]): Promise<number[]> {
  const relay = startNodeProcess([RELAY_SCRIPT, ...ports.map(String)]);
  started.push(relay);
  return waitFor('a relay process to listen', () => {
    if (relay.child.exitCode !== null) {
      throw new Error(`relay process exited (${relay.child.exitCode}) before listening: ${relay.output().trim()}`);
    }
    const line = /^\[[\d,]*\]$/m.exec(relay.output());
    return line ? (JSON.parse(line[0]) as number[]) : undefined;
  });
}

/**
 * The floor of a topology: `hops` plain relay processes in a row in front of the target services, each a SocketSplice
 * and nothing else (relay-process.ts). Grove's API path has two relaying processes between the driver and the target
 * (controller, worker), its CLI path three (the CLI too); a chain of as many plain relays shows what the processes and
 * the machine cost by themselves: what is left between Grove and such a row is Grove's own work.
 */
export function relayChainPath(hops: number): BenchPath {
  return {
    name: `${hops} plain Node relays`,
    start: async (targets: TargetPorts) => {
      const relays: RunningProcess[] = [];
      const stop = async () => {
        await Promise.all(relays.map((relay) => relay.stop()));
      };
      let ports = [targets.echo, targets.sink, targets.source];
      try {
        for (let i = 0; i < hops; i++) {
          ports = await startRelay(ports, relays);
        }
      } catch (err) {
        await stop();
        throw err;
      }
      const [echo, sink, source] = ports;
      return {
        ...dialsTo({ echo, sink, source }, (port) => tcpDial(port)),
        notes: [`${hops} processes in a row, each relaying with SocketSplice only (no protocol, no control plane)`],
        stop,
      };
    },
  };
}
