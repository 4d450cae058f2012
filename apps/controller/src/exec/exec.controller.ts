import { type BeforeApplicationShutdown, Body, Controller, Get, HttpCode, Param, Post, Req, Res } from '@nestjs/common';
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
import { DomainError, DomainErrorCode } from '../common/domain-error';
import { SessionMetrics } from '../metrics/session-metrics';
import { traceparentOf } from '../telemetry/session-traces';
import type { RemoteExec } from '../worker-sessions/remote-exec';
import { ExecEventDto, ExecRequestDto } from './exec.dto';
import { ExecService, SHUTDOWN } from './exec.service';

function shuttingDown(): DomainError {
  return new DomainError(DomainErrorCode.Unavailable, SHUTDOWN);
}

/** A promise that resolves (with undefined) when `signal` aborts, and the function that stops listening. */
function untilAborted(signal: AbortSignal): { promise: Promise<undefined>; dispose: () => void } {
  let dispose = () => undefined as void;
  const promise = new Promise<undefined>((resolve) => {
    const onAbort = () => resolve(undefined);
    signal.addEventListener('abort', onAbort, { once: true });
    dispose = () => signal.removeEventListener('abort', onAbort);
  });
  return { promise, dispose };
}

/** Running commands in VMs: Orchard's exec WebSocket and Grove's one-shot POST with an NDJSON answer. */
@ApiTags('exec')
@ApiBasicAuth()
@Controller('v1')
export class ExecController implements BeforeApplicationShutdown {
  /** Aborted when shutdown begins: POST requests whose command is still starting are answered 503 at once. */
  private readonly shutdown = new AbortController();
  /** POST requests whose command is still starting: shutdown cancels what can be cancelled of their start. */
  private readonly starting = new Set<AbortController>();

  constructor(
    private readonly exec: ExecService,
    private readonly metrics: SessionMetrics,
  ) {}

  /**
   * Before the HTTP server closes. ExecService ends the NDJSON streams of running commands (an `error` event, then the
   * end of the response); a command still starting (its VM not running yet, its worker slow to answer) would begin
   * its stream after that and hold the server open, so its request is answered 503 now and the command, should it
   * start anyway, killed.
   */
  beforeApplicationShutdown(): void {
    this.shutdown.abort();
    for (const gone of this.starting) {
      gone.abort();
    }
  }

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
    try {
      await this.exec.openWebSocket(name, req.raw, {
        account: req.serviceAccount!,
        remoteAddress: req.ip,
        traceparent: traceparentOf(req.raw),
      });
    } catch (err) {
      this.metrics.refused('exec');
      throw err;
    }
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
    if (this.shutdown.signal.aborted) {
      throw shuttingDown();
    }
    const gone = new AbortController();
    const onClose = () => gone.abort();
    reply.raw.once('close', onClose);
    this.starting.add(gone);
    const started = this.exec.startCommand(
      name,
      body,
      { account: req.serviceAccount!, remoteAddress: req.ip, traceparent: traceparentOf(req.raw) },
      gone.signal,
    );
    const stop = untilAborted(this.shutdown.signal);
    let exec: RemoteExec | undefined;
    try {
      exec = await Promise.race([started, stop.promise]);
    } catch (err) {
      this.metrics.refused('exec');
      throw this.shutdown.signal.aborted ? shuttingDown() : err;
    } finally {
      stop.dispose();
      this.starting.delete(gone);
      reply.raw.off('close', onClose);
    }
    if (exec === undefined || this.shutdown.signal.aborted) {
      this.metrics.refused('exec');
      void started.then(
        (late) => late.kill(SHUTDOWN),
        () => undefined,
      );
      throw shuttingDown();
    }
    reply.hijack();
    this.exec.streamCommand(exec, reply.raw, body.timeout ?? 0);
  }
}
