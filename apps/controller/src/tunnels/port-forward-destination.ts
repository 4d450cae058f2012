import { findHostProcess, WORKER_CAPABILITY_HOST_PROCESSES, type Vm, type Worker } from '@grove/resources';
import { WORKER_CAPABILITY_TUNNEL_GUEST_AGENT, type TunnelFrame } from '@grove/proto';
import { DomainError, DomainErrorCode } from '../common/domain-error';

/**
 * What a port-forward session connects to on its VM or worker: a TCP port, the VM's Tart guest agent
 * (orchard-2026.md §1.2.4), or one of the VM's host processes by name (§1.2.3).
 */
export type PortForwardDestination =
  { kind: 'port'; port: number } | { kind: 'tart-guest-agent' } | { kind: 'host-process'; name: string };

/** What the audit record of a session says about its destination. */
export interface DestinationAuditFields {
  /** The TCP port; 0 when the session reached `target`. */
  port: number;
  /** What the session reached instead of a port. */
  target?: 'tart-guest-agent' | 'host-process';
  /** The host process's name, with `target: host-process`. */
  hostProcess?: string;
}

/**
 * A port-forward to a host process the VM does not declare is 404 (Orchard's answer). Checked as soon as the VM is
 * found, so that a pending VM does not make the client wait for nothing, and again once it runs: the spec may have
 * changed meanwhile.
 */
export function checkDestinationDeclared(vm: Vm, to: PortForwardDestination): void {
  if (to.kind === 'host-process' && !findHostProcess(vm, to.name)) {
    throw new DomainError(DomainErrorCode.NotFound, `host process "${to.name}" is not declared on VM "${vm.name}"`);
  }
}

/** What a destination other than a port needs of the worker, and how it is named in the refusal. */
const CAPABILITIES: Record<Exclude<PortForwardDestination['kind'], 'port'>, { capability: string; what: string }> = {
  'tart-guest-agent': { capability: WORKER_CAPABILITY_TUNNEL_GUEST_AGENT, what: 'the Tart guest agent' },
  'host-process': { capability: WORKER_CAPABILITY_HOST_PROCESSES, what: 'host processes' },
};

/**
 * A worker without the capability a destination needs predates it and would read the open frame as one for port 0
 * (or, for host processes, does not run them at all): such a session is refused with 503 and the reason, instead of
 * failing there.
 */
export function checkWorkerCapability(
  worker: Pick<Worker, 'name' | 'capabilities'>,
  vmName: string,
  to: PortForwardDestination,
): void {
  if (to.kind === 'port') {
    return;
  }
  const { capability, what } = CAPABILITIES[to.kind];
  if (!worker.capabilities.includes(capability)) {
    throw new DomainError(
      DomainErrorCode.Unavailable,
      `worker "${worker.name}" of VM "${vmName}" cannot forward to ${what}: it lacks the capability ${capability} ` +
        '(upgrade the worker)',
    );
  }
}

/** The `open` frame that starts a session to `to`; with the `traceparent` of the session's span when it is traced. */
export function openFrame(
  session: string,
  vmUid: string,
  to: PortForwardDestination,
  traceparent?: string,
): TunnelFrame {
  const traced = traceparent === undefined ? {} : { traceparent };
  switch (to.kind) {
    case 'port':
      return { kind: 'open', session, vmUid, port: to.port, ...traced };
    case 'tart-guest-agent':
      return { kind: 'open', session, vmUid, port: 0, target: 'tart-guest-agent', ...traced };
    case 'host-process':
      return { kind: 'open', session, vmUid, port: 0, target: 'host-process', hostProcess: to.name, ...traced };
  }
}

/** The destination as the audit record names it. */
export function auditFields(to: PortForwardDestination): DestinationAuditFields {
  switch (to.kind) {
    case 'port':
      return { port: to.port };
    case 'tart-guest-agent':
      return { port: 0, target: 'tart-guest-agent' };
    case 'host-process':
      return { port: 0, target: 'host-process', hostProcess: to.name };
  }
}
