import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { tcpDial } from './measure';
import { dialsTo, type BenchPath } from './paths';
import type { TargetPorts } from './targets';

const RELAY_SCRIPT = join(__dirname, 'relay-process.js');

/** Starts one relay process in front of `ports` and resolves with the ports it listens on, in the same order. */
function startRelay(ports: number[]): Promise<{ child: ChildProcess; ports: number[] }> {
  const child = spawn(process.execPath, [RELAY_SCRIPT, ...ports.map(String)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.once('line', (line) => {
      lines.close();
      resolve({ child, ports: JSON.parse(line) as number[] });
    });
    child.once('exit', (code) =>
      reject(new Error(`relay process exited (${code}) before listening: ${stderr.trim()}`)),
    );
    child.once('error', reject);
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
      const children: ChildProcess[] = [];
      const stop = async () => {
        await Promise.all(
          children.map(
            (child) =>
              new Promise<void>((resolve) => {
                if (child.exitCode !== null || child.signalCode !== null) {
                  resolve();
                  return;
                }
                child.once('exit', () => resolve());
                child.kill();
              }),
          ),
        );
      };
      let ports = [targets.echo, targets.sink, targets.source];
      try {
        for (let i = 0; i < hops; i++) {
          const relay = await startRelay(ports);
          children.push(relay.child);
          ports = relay.ports;
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
