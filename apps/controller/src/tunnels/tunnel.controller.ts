import { Controller, Get, Param, Query, Req, Res } from '@nestjs/common';
import { ApiBasicAuth, ApiOkResponse, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { hasRoles, missingRolesMessage, type AuthenticatedRequest } from '../common/auth/auth.guard';
import { RequireAnyRole, RequireRoles, type AuthRule } from '../common/auth/roles.decorator';
import { DomainError, DomainErrorCode } from '../common/domain-error';
import { IpQueryDto, PortForwardQueryDto, VmPortForwardQueryDto } from './port-forward.dto';
import { TunnelSessionService, type PortForwardRequest } from './tunnel-session.service';

const DEFAULT_PORT_FORWARD_WAIT_SECONDS = 10;

/** Who may open a tunnel to a port of a VM. */
const VM_PORT_RULE: AuthRule & { kind: 'any' } = { kind: 'any', roles: ['compute:write', 'compute:connect'] };
/**
 * Who may open a tunnel to a VM's Tart guest agent (orchard-2026.md §1.2.4): `compute:connect` is not enough, since the
 * agent runs commands in the VM without its credentials.
 */
const GUEST_AGENT_RULE: AuthRule & { kind: 'any' } = {
  kind: 'any',
  roles: ['compute:write', 'compute:connect:tart-guest-agent'],
};

class IpResponseDto {
  ip!: string;
}

/** WebSocket port-forwarding to VMs and workers, and VM addresses: everything that reaches into a worker's network. */
@ApiTags('tunnels')
@ApiBasicAuth()
@Controller('v1')
export class TunnelController {
  constructor(private readonly sessions: TunnelSessionService) {}

  @Get('vms/:name/port-forward')
  // Narrowed per request below: which of them suffices depends on `target`.
  @RequireAnyRole('compute:write', 'compute:connect', 'compute:connect:tart-guest-agent')
  @ApiOperation({
    summary:
      'WebSocket: a TCP connection to a port of the VM, or with `target=tart-guest-agent` to its Tart guest agent ' +
      '(gRPC), as binary messages. Needs `compute:write` or `compute:connect` for a port, `compute:write` or ' +
      '`compute:connect:tart-guest-agent` for the agent. Waits up to `wait` seconds for the VM to run; 408 if it ' +
      'does not, 417 if it failed, 503 if its worker cannot be reached or cannot reach the agent.',
  })
  @ApiResponse({ status: 101, description: 'Switching to the WebSocket protocol.' })
  async vmPortForward(
    @Param('name') name: string,
    @Query() query: VmPortForwardQueryDto,
    @Req() req: AuthenticatedRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const rule = query.target === undefined ? VM_PORT_RULE : GUEST_AGENT_RULE;
    if (!hasRoles(req.serviceAccount!, rule)) {
      throw new DomainError(DomainErrorCode.Forbidden, missingRolesMessage(rule));
    }
    await this.forward({ kind: 'vm', name }, query, req, reply);
  }

  @Get('workers/:name/port-forward')
  @RequireRoles('admin:write')
  @ApiOperation({
    summary:
      'WebSocket: a TCP connection to a port of the worker host itself (e.g. 5900 for its screen). 503 if the ' +
      'worker cannot be reached within `wait` seconds.',
  })
  @ApiResponse({ status: 101, description: 'Switching to the WebSocket protocol.' })
  async workerPortForward(
    @Param('name') name: string,
    @Query() query: PortForwardQueryDto,
    @Req() req: AuthenticatedRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    await this.forward({ kind: 'worker', name }, query, req, reply);
  }

  @Get('vms/:name/ip')
  @RequireAnyRole('compute:write', 'compute:connect')
  @ApiOperation({
    summary:
      'The VM\'s IP address as its worker sees it, e.g. `{"ip":"192.168.64.5"}`. Waits up to `wait` seconds ' +
      '(default 0) for the VM to run and have an address.',
  })
  @ApiOkResponse({ type: IpResponseDto })
  async ip(@Param('name') name: string, @Query() query: IpQueryDto): Promise<IpResponseDto> {
    return { ip: await this.sessions.resolveIp(name, Number(query.wait ?? 0)) };
  }

  private async forward(
    target: PortForwardRequest['target'],
    query: PortForwardQueryDto | VmPortForwardQueryDto,
    req: AuthenticatedRequest,
    reply: FastifyReply,
  ): Promise<void> {
    await this.sessions.portForward({
      target,
      to:
        'target' in query && query.target === 'tart-guest-agent'
          ? { kind: 'tart-guest-agent' }
          : { kind: 'port', port: Number(query.port) },
      waitSeconds: query.wait === undefined ? DEFAULT_PORT_FORWARD_WAIT_SECONDS : Number(query.wait),
      account: req.serviceAccount!,
      request: req.raw,
      remoteAddress: req.ip,
    });
    // The WebSocket took the connection: Fastify must not answer. (`@Res()` without passthrough also keeps Nest from
    // sending the handler's result on the hijacked reply, which Fastify refuses with an error object per handshake.)
    reply.hijack();
  }
}
