import { randomUUID } from 'node:crypto';
import type { Logger } from '@nestjs/common';
import { DomainError, DomainErrorCode } from '../common/domain-error';
import { TunnelUnavailableError } from '../worker-sessions/tunnel-broker';
import { ExecStartError } from '../worker-sessions/remote-exec';

/** Reason codes of SSH_MSG_CHANNEL_OPEN_FAILURE (RFC 4254 §5.1). */
export enum ChannelOpenFailure {
  AdministrativelyProhibited = 1,
  ConnectFailed = 2,
  UnknownChannelType = 3,
  ResourceShortage = 4,
}

/** What an SSH client is told when a channel cannot be served: a reason code and a sentence. */
export interface SshFailure {
  reason: ChannelOpenFailure;
  message: string;
}

/**
 * The SSH transport's one mapping of errors (STYLE.md "Validation and errors"): domain errors keep their text,
 * worker problems say so, anything else is an internal error with a correlation id, logged once.
 */
export function sshFailure(err: unknown, logger: Logger): SshFailure {
  if (err instanceof DomainError) {
    switch (err.code) {
      case DomainErrorCode.Unauthenticated:
      case DomainErrorCode.Forbidden:
        return { reason: ChannelOpenFailure.AdministrativelyProhibited, message: err.message };
      case DomainErrorCode.TooManyRequests:
        return { reason: ChannelOpenFailure.ResourceShortage, message: err.message };
      case DomainErrorCode.InvalidInput:
      case DomainErrorCode.NotFound:
      case DomainErrorCode.Conflict:
      case DomainErrorCode.TimedOut:
      case DomainErrorCode.ExpectationFailed:
      case DomainErrorCode.Unavailable:
        return { reason: ChannelOpenFailure.ConnectFailed, message: err.message };
    }
  }
  if (err instanceof TunnelUnavailableError) {
    return { reason: ChannelOpenFailure.ConnectFailed, message: `cannot reach the VM's worker: ${err.message}` };
  }
  if (err instanceof ExecStartError) {
    return { reason: ChannelOpenFailure.ConnectFailed, message: `cannot start the command: ${err.message}` };
  }
  const id = randomUUID();
  logger.error(`internal error ${id}: ${(err as Error)?.stack ?? String(err)}`);
  return { reason: ChannelOpenFailure.ConnectFailed, message: `internal error (correlation id ${id})` };
}
