import { Body, Controller, Get, HttpCode, Param, Post, Req, Res } from '@nestjs/common';
import {
  ApiBasicAuth,
  ApiBody,
  ApiOkResponse,
  ApiOperation,
  ApiProduces,
  ApiQuery,
  ApiResponse,
  ApiTags,
} from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import type { AuthenticatedRequest } from '../common/auth/auth.guard';
import { RequireAnyRole } from '../common/auth/roles.decorator';
import { ExecEventDto, ExecRequestDto } from './exec.dto';
import { ExecService } from './exec.service';

/** Running commands in VMs: Orchard's exec WebSocket and Grove's one-shot POST with an NDJSON answer. */
@ApiTags('exec')
@ApiBasicAuth()
@Controller('v1')
export class ExecController {
  constructor(private readonly exec: ExecService) {}

  @Get('vms/:name/exec')
  @RequireAnyRole('compute:write', 'compute:connect')
  @ApiOperation({
    summary:
      'WebSocket of JSON text frames (Orchard-compatible): runs `command` with /bin/sh -c in the VM, or attaches ' +
      'to the reconnectable session `session`. Client frames: stdin, resize, history, ack, detach, close; server ' +
      'frames: stdout, stderr, exit, error, no_more_history. See docs/exec.md.',
  })
  @ApiQuery({
    name: 'command',
    type: String,
    required: false,
    description: 'Shell command line; required unless attaching.',
  })
  @ApiQuery({
    name: 'session',
    type: String,
    required: false,
    description: 'Id of a reconnectable session (alias `cmux_session_id`): output numbered and kept for history.',
  })
  @ApiQuery({
    name: 'interactive',
    type: Boolean,
    required: false,
    description: 'Accept stdin frames (alias `stdin`).',
  })
  @ApiQuery({
    name: 'tty',
    type: Boolean,
    required: false,
    description: 'Run on a pseudo-terminal (implies interactive).',
  })
  @ApiQuery({ name: 'rows', type: Number, required: false, description: 'Terminal rows (with `cols`).' })
  @ApiQuery({ name: 'cols', type: Number, required: false, description: 'Terminal columns (with `rows`).' })
  @ApiQuery({
    name: 'env',
    required: false,
    style: 'deepObject',
    explode: true,
    type: 'object',
    description: 'Environment variables as `env[NAME]=value`.',
  })
  @ApiQuery({ name: 'workdir', type: String, required: false, description: 'Working directory of the command.' })
  @ApiQuery({
    name: 'wait',
    type: Number,
    required: false,
    description: 'Seconds to wait for the VM to run and the command to start (0–65535, default 10).',
  })
  @ApiResponse({ status: 101, description: 'Switching to the WebSocket protocol.' })
  @ApiResponse({ status: 400, description: 'A bad parameter (the message names it).' })
  @ApiResponse({ status: 404, description: 'No such VM, or no such session to attach to.' })
  @ApiResponse({ status: 408, description: 'The VM did not run within `wait`.' })
  @ApiResponse({ status: 409, description: 'The session runs with different options.' })
  @ApiResponse({ status: 417, description: 'The VM failed.' })
  @ApiResponse({ status: 503, description: 'The worker could not be reached or could not start the command.' })
  async webSocket(
    @Param('name') name: string,
    @Req() req: AuthenticatedRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<void> {
    await this.exec.openWebSocket(name, req.raw, { account: req.serviceAccount!, remoteAddress: req.ip });
    // The WebSocket took the connection: Fastify must not answer.
    reply.hijack();
  }

  @Post('vms/:name/exec')
  @HttpCode(200)
  @RequireAnyRole('compute:write', 'compute:connect')
  @ApiOperation({
    summary:
      'Runs a program in the VM (no shell) and streams its events as newline-delimited JSON: `started`, ' +
      '`stdout`/`stderr` (UTF-8 text, or base64 with `"encoding":"base64"`), then `exit` or `error`. Errors ' +
      'before the start are ordinary JSON error answers. Closing the request kills the program.',
  })
  @ApiBody({ type: ExecRequestDto })
  @ApiProduces('application/x-ndjson')
  @ApiOkResponse({ type: ExecEventDto, description: 'One ExecEvent per line.' })
  @ApiResponse({ status: 400, description: 'A bad field (the message names it).' })
  @ApiResponse({ status: 404, description: 'No such VM.' })
  @ApiResponse({ status: 408, description: 'The VM did not run within `wait`.' })
  @ApiResponse({ status: 417, description: 'The VM failed.' })
  @ApiResponse({ status: 503, description: 'The worker could not be reached or could not start the program.' })
  async run(
    @Param('name') name: string,
    @Body() body: ExecRequestDto,
    @Req() req: AuthenticatedRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<void> {
    const gone = new AbortController();
    const onClose = () => gone.abort();
    reply.raw.once('close', onClose);
    try {
      const exec = await this.exec.startCommand(
        name,
        body,
        { account: req.serviceAccount!, remoteAddress: req.ip },
        gone.signal,
      );
      reply.hijack();
      this.exec.streamCommand(exec, reply.raw, body.timeout ?? 0);
    } finally {
      reply.raw.off('close', onClose);
    }
  }
}
