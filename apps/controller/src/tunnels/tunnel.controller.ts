import { Controller, Get, Param, Query, Req, Res } from '@nestjs/common';
import { ApiBasicAuth, ApiOkResponse, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Role } from '@grove/resources';
import type { FastifyReply } from 'fastify';
import type { AuthenticatedRequest } from '../common/auth/auth.guard';
import {
  RequireAnyRole,
  RequireRoles,
  RequireRolesPerRequest,
  type AuthRuleResolver,
} from '../common/auth/roles.decorator';
import { SessionMetrics, tunnelSessionKind } from '../metrics/session-metrics';
import type { PortForwardDestination } from './port-forward-destination';
import {
  DEFAULT_PORT_FORWARD_WAIT_SECONDS,
  IpQueryDto,
  PortForwardQueryDto,
  VmPortForwardQueryDto,
} from './port-forward.dto';
import { TunnelSessionService, type PortForwardRequest } from './tunnel-session.service';

/**
 * Who may open a VM port-forward, by what it reaches (the query as received; a query that names more than one is 400
 * later): a port needs `compute:write` or `compute:connect`; the Tart guest agent `compute:write` or
 * `compute:connect:tart-guest-agent`, since the agent runs commands in the VM without its credentials
 * (orchard-2026.md §1.2.4); a host process `host-process:connect` besides `compute:write` or `compute:connect` (§1.2.3).
 */
export const vmPortForwardRule: AuthRuleResolver = (request) => {
  const query = (request.query ?? {}) as Record<string, unknown>;
  if (query['hostProcess'] !== undefined) {
    return { kind: 'all-and-any', all: ['host-process:connect'], any: ['compute:write', 'compute:connect'] };
  }
  if (query['target'] !== undefined) {
    return { kind: 'any', roles: ['compute:write', 'compute:connect:tart-guest-agent'] };
  }
  return { kind: 'any', roles: ['compute:write', 'compute:connect'] };
};

/** Who may open a port-forward to a port of the worker host itself. */
export const WORKER_PORT_FORWARD_ROLES: Role[] = ['admin:write'];

/** Where a VM port-forward query leads (once validated: at most one of them is given). */
function destination(query: VmPortForwardQueryDto | PortForwardQueryDto): PortForwardDestination {
  if ('hostProcess' in query && query.hostProcess !== undefined) {
    return { kind: 'host-process', name: query.hostProcess };
  }
  if ('target' in query && query.target === 'tart-guest-agent') {
    return { kind: 'tart-guest-agent' };
  }
  return { kind: 'port', port: Number(query.port) };
}

class IpResponseDto {
  ip!: string;
}

/** WebSocket port-forwarding to VMs and workers, and VM addresses: everything that reaches into a worker's network. */
@ApiTags('tunnels')
@ApiBasicAuth()
@Controller('v1')
export class TunnelController {
  constructor(
    private readonly sessions: TunnelSessionService,
    private readonly metrics: SessionMetrics,
  ) {}

  @Get('vms/:name/port-forward')
  @RequireRolesPerRequest(vmPortForwardRule)
  @ApiOperation({
    summary:
      'WebSocket: a TCP connection to a port of the VM, with `target=tart-guest-agent` to its Tart guest agent ' +
      '(gRPC), or with `hostProcess=NAME` to the Unix socket of one of its host processes, as binary messages. ' +
      'Needs `compute:write` or `compute:connect` for a port, `compute:write` or `compute:connect:tart-guest-agent` ' +
      'for the agent, `host-process:connect` and one of `compute:write`, `compute:connect` for a host process. ' +
      'Waits up to `wait` seconds for the VM to run; 404 if it does not declare the host process, 408 if it does ' +
      'not run in time, 417 if it failed, 503 if its worker cannot be reached or lacks the capability needed.',
  })
  @ApiResponse({ status: 101, description: 'Switching to the WebSocket protocol.' })
  async vmPortForward(
    @Param('name') name: string,
    @Query() query: VmPortForwardQueryDto,
    @Req() req: AuthenticatedRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    await this.forward({ kind: 'vm', name }, query, req, reply);
  }

  @Get('workers/:name/port-forward')
  @RequireRoles(...WORKER_PORT_FORWARD_ROLES)
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
    const to = destination(query);
    try {
      await this.sessions.portForward({
        target,
        to,
        waitSeconds: query.wait === undefined ? DEFAULT_PORT_FORWARD_WAIT_SECONDS : Number(query.wait),
        account: req.serviceAccount!,
        request: req.raw,
        remoteAddress: req.ip,
      });
    } catch (err) {
      this.metrics.refused(tunnelSessionKind(to.kind === 'port' ? to.port : undefined));
      throw err;
    }
    // The WebSocket took the connection: Fastify must not answer. (`@Res()` without passthrough also keeps Nest from
    // sending the handler's result on the hijacked reply, which Fastify refuses with an error object per handshake.)
    reply.hijack();
  }
}
