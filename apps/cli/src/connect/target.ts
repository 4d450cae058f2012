import { ApiError, type GroveClient, type PortForwardStream } from '@grove/client';
import type { Vm } from '@grove/resources';
import type { WebSocket } from 'ws';

/** What a tunnel reaches: a port of a VM, or a port on a worker host (`localhost` there). */
export type TargetKind = 'vm' | 'worker';

export interface Target {
  kind: TargetKind;
  name: string;
}

/**
 * What a tunnel connects to on its target: a TCP port, or (VMs only) the Tart guest agent (orchard-2026.md §1.2.4) or a
 * host process's Unix socket (§1.2.3).
 */
export type TunnelRemote = { port: number } | { target: 'tart-guest-agent' } | { hostProcess: string };

/** `port 80` / `Tart guest agent` / `host process "proxy"`, for messages. */
export function describeRemote(remote: TunnelRemote): string {
  if ('hostProcess' in remote) {
    return `host process "${remote.hostProcess}"`;
  }
  return 'port' in remote ? `port ${remote.port}` : 'Tart guest agent';
}

/** `VM "ci-1"` / `worker "mac-1"`, for messages. */
export function describeTarget(target: Target): string {
  return `${target.kind === 'vm' ? 'VM' : 'worker'} "${target.name}"`;
}

/**
 * Fetches the VM or worker: a typo fails at once with the controller's 404 instead of on the first connection.
 * Returns the VM (its credentials serve `grove ssh` and `grove vnc`), or undefined for a worker, or when the account
 * may not read it: tunnels need other roles than reading (`compute:connect` alone may open VM tunnels), so then the
 * check is skipped and the tunnel's own answer tells what is wrong.
 */
export async function checkTarget(client: GroveClient, target: Target): Promise<Vm | undefined> {
  try {
    switch (target.kind) {
      case 'vm':
        return await client.vms.get(target.name);
      case 'worker':
        await client.workers.get(target.name);
        return undefined;
    }
  } catch (err) {
    if (err instanceof ApiError && err.status === 403) {
      return undefined;
    }
    throw err;
  }
}

/** Opens one port-forward WebSocket (one TCP connection at the far end) through the controller. */
export function openTunnel(
  client: GroveClient,
  target: Target,
  options: TunnelRemote & { waitSeconds: number; signal?: AbortSignal; halfClose?: boolean },
): Promise<WebSocket> {
  return target.kind === 'vm'
    ? client.vms.portForward(target.name, options)
    : client.workers.portForward(target.name, options);
}

/**
 * Starts one port-forward session as a plain byte stream (Grove's raw tunnel protocol): the socket may be written at
 * once; `opened` resolves once the far end reached the target, or rejects (a TunnelRefusedError naming why not).
 */
export function startTunnelStream(
  client: GroveClient,
  target: Target,
  options: TunnelRemote & { waitSeconds: number; signal?: AbortSignal },
): PortForwardStream {
  return target.kind === 'vm'
    ? client.vms.startPortForwardStream(target.name, options)
    : client.workers.startPortForwardStream(target.name, options);
}
