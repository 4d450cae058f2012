import type { Vm } from '@grove/resources';
import type { TunnelOutcome } from '@grove/tunnel';
import type { DestinationAuditFields } from './port-forward-destination';

/** Who uses a tunnel session and through what, for its audit record. */
export interface TunnelAuditSubject {
  /**
   * `port-forward`: the WebSocket API; `ssh-forward`: a `direct-tcpip` channel of the SSH gateway (`ssh -J`);
   * `preview`: an HTTP request through a preview link (the account is the one that made the link).
   */
  type: 'port-forward' | 'ssh-forward' | 'preview';
  account: string;
  remoteAddress: string;
  /** How the account logged in (SSH gateway: `password` or `publickey`). */
  authMethod?: string;
}

/** The session's facts the audit record needs besides its subject and outcome. */
export type TunnelAuditInfo = { session: string; workerName: string; vm: Vm | undefined } & DestinationAuditFields;

/** The audit record of one tunnel session (logged as JSON, and stored as an `audit` event of the VM). */
export interface TunnelAuditRecord extends DestinationAuditFields {
  type: TunnelAuditSubject['type'];
  session: string;
  account: string;
  authMethod?: string;
  remoteAddress: string;
  vm?: string;
  vmUid?: string;
  worker: string;
  startedAt: string;
  endedAt: string;
  durationMs: number;
  bytesToTarget: number;
  bytesFromTarget: number;
  result: TunnelOutcome['result'];
  error?: string;
}

/** The audit record of a session that ran from `startedAt` to `endedAt`. */
export function tunnelAuditRecord(
  subject: TunnelAuditSubject,
  info: TunnelAuditInfo,
  startedAt: Date,
  endedAt: Date,
  outcome: TunnelOutcome,
): TunnelAuditRecord {
  return {
    type: subject.type,
    session: info.session,
    account: subject.account,
    ...(subject.authMethod ? { authMethod: subject.authMethod } : {}),
    remoteAddress: subject.remoteAddress,
    ...(info.vm ? { vm: info.vm.name, vmUid: info.vm.uid } : {}),
    worker: info.workerName,
    port: info.port,
    ...(info.target ? { target: info.target } : {}),
    ...(info.hostProcess !== undefined ? { hostProcess: info.hostProcess } : {}),
    startedAt: startedAt.toISOString(),
    endedAt: endedAt.toISOString(),
    durationMs: endedAt.getTime() - startedAt.getTime(),
    bytesToTarget: outcome.bytesSent,
    bytesFromTarget: outcome.bytesReceived,
    result: outcome.result,
    ...(outcome.error ? { error: outcome.error } : {}),
  };
}
