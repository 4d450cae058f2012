import { Injectable, Logger } from '@nestjs/common';
import type { AcceptConnection, Connection, RejectConnection, ServerChannel, TcpipRequestInfo } from 'ssh2';
import { DomainError, DomainErrorCode } from '../common/domain-error';
import { SessionMetrics, tunnelSessionKind } from '../metrics/session-metrics';
import { TunnelSessionService } from '../tunnels/tunnel-session.service';
import type { SshPrincipal } from './ssh-gateway-auth';
import { ChannelByteStream, rejectChannel } from './ssh-channel';
import { ChannelOpenFailure, sshFailure } from './ssh-gateway.errors';

/** How long a `direct-tcpip` channel waits for its VM to run (Orchard does not wait at all). */
export const FORWARD_WAIT_SECONDS = 10;

/**
 * `direct-tcpip` channels (what `ssh -J` and `ssh -W` open) to `<vm-name>:<port>`: the VM's worker reaches the
 * port through one of its tunnels, and the channel is accepted only once it did, so that a refused connection or an
 * unknown VM is the channel's open failure with a readable reason.
 */
@Injectable()
export class SshForwardService {
  private readonly logger = new Logger('SshGateway');

  constructor(
    private readonly tunnels: TunnelSessionService,
    private readonly metrics: SessionMetrics,
  ) {}

  async forward(
    connection: Connection,
    principal: SshPrincipal,
    accept: AcceptConnection<ServerChannel>,
    reject: RejectConnection,
    info: TcpipRequestInfo,
    gone: AbortSignal,
  ): Promise<void> {
    const vmName = info.destIP;
    const port = info.destPort;
    let opened;
    try {
      if (!Number.isInteger(port) || port < 1 || port > 65535) {
        throw new DomainError(DomainErrorCode.InvalidInput, `port ${port} is not between 1 and 65535`);
      }
      opened = await this.tunnels.openVmPort(vmName, port, { waitSeconds: FORWARD_WAIT_SECONDS, signal: gone });
    } catch (err) {
      const failure = sshFailure(err, this.logger);
      this.logger.log(
        `forward of "${principal.account.name}" from ${principal.remoteAddress} to ${vmName}:${port} refused: ` +
          failure.message,
      );
      if (!gone.aborted) {
        this.metrics.refused(tunnelSessionKind(port));
        rejectChannel(connection, reject, failure);
      }
      return;
    }
    if (gone.aborted) {
      this.tunnels.abandonVmTunnel(opened, 'the SSH client went away');
      return;
    }
    const channel = accept();
    if (!channel) {
      this.tunnels.abandonVmTunnel(opened, 'the SSH client went away');
      return;
    }
    await this.tunnels.attachVmTunnel(opened, new ChannelByteStream(channel), {
      subject: {
        type: 'ssh-forward',
        account: principal.account.name,
        authMethod: principal.method,
        remoteAddress: principal.remoteAddress,
      },
      halfClose: true,
    });
  }

  /** Channel types other than `direct-tcpip` and `session` never reach the handlers; this covers the rest. */
  static refuse(connection: Connection, reject: RejectConnection, message: string): void {
    rejectChannel(connection, reject, { reason: ChannelOpenFailure.AdministrativelyProhibited, message });
  }
}
