import { Controller, Get, Param, Query, Req, Res } from '@nestjs/common';
import { ApiBasicAuth, ApiOkResponse, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import type { AuthenticatedRequest } from '../common/auth/auth.guard';
import { RequireAnyRole, RequireRoles } from '../common/auth/roles.decorator';
import { IpQueryDto, PortForwardQueryDto } from './port-forward.dto';
import { TunnelSessionService, type PortForwardRequest } from './tunnel-session.service';

const DEFAULT_PORT_FORWARD_WAIT_SECONDS = 10;

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
  @RequireAnyRole('compute:write', 'compute:connect')
  @ApiOperation({
    summary:
      'WebSocket: a TCP connection to a port of the VM, as binary messages. Waits up to `wait` seconds for the VM ' +
      'to run; 408 if it does not, 417 if it failed, 503 if its worker cannot be reached.',
  })
  @ApiResponse({ status: 101, description: 'Switching to the WebSocket protocol.' })
  async vmPortForward(
    @Param('name') name: string,
    @Query() query: PortForwardQueryDto,
    @Req() req: AuthenticatedRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
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
    query: PortForwardQueryDto,
    req: AuthenticatedRequest,
    reply: FastifyReply,
  ): Promise<void> {
    await this.sessions.portForward({
      target,
      port: Number(query.port),
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
