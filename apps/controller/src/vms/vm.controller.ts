import {
  type BeforeApplicationShutdown,
  Body,
  Controller,
  HttpCode,
  Delete,
  Get,
  Headers,
  Param,
  ParseArrayPipe,
  Post,
  Put,
  Query,
  Req,
  Res,
  StreamableFile,
} from '@nestjs/common';
import { ApiBasicAuth, ApiBody, ApiHeader, ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { Vm, VmEvent } from '@grove/resources';
import type { FastifyReply } from 'fastify';
import type { AuthenticatedRequest } from '../common/auth/auth.guard';
import { RequireRoles, RequireRolesPerRequest, type AuthRuleResolver } from '../common/auth/roles.decorator';
import { flattenValidationErrors } from '../common/validation';
import { DomainError, DomainErrorCode } from '../common/domain-error';
import { VmChangeBus } from './vm-change-bus';
import { VmCreateDto, VmDto, VmEventDto, VmEventListQueryDto, VmGetQueryDto, VmListQueryDto } from './vm.dto';
import { HOST_PROCESS_WRITE_RULE, VmService } from './vm.service';
import { streamFleetWatch } from './vm-fleet-watch';
import { streamVmWatch, VmWatchStreams } from './vm-watch';
import { acceptsGzip, gzipJsonArrayStream, jsonArrayStream } from './vm-list';

/**
 * Creating a VM needs `compute:write`, and `host-process:write` too when it declares host processes
 * (orchard-2026.md §1.2.3); the body as received decides, before validation.
 */
export const vmCreateRule: AuthRuleResolver = (request) => {
  const processes = (request.body as { hostProcesses?: unknown } | undefined)?.hostProcesses;
  return Array.isArray(processes) && processes.length > 0
    ? HOST_PROCESS_WRITE_RULE
    : { kind: 'all', roles: ['compute:write'] };
};

@ApiTags('vms')
@ApiBasicAuth()
@Controller('v1/vms')
export class VmController implements BeforeApplicationShutdown {
  private readonly watches = new VmWatchStreams();

  constructor(
    private readonly service: VmService,
    private readonly changes: VmChangeBus,
  ) {}

  /** Before the HTTP server closes: it would otherwise wait for the open watch streams, which never end by themselves. */
  beforeApplicationShutdown(): void {
    this.watches.closeAll();
  }

  @Post()
  @HttpCode(200)
  @RequireRolesPerRequest(vmCreateRule)
  @ApiOperation({
    summary:
      'Create a VM; it starts pending and the scheduler assigns it to a worker. Needs `compute:write`, and ' +
      '`host-process:write` too for a VM with `hostProcesses`.',
  })
  @ApiOkResponse({ type: VmDto })
  create(@Body() body: VmCreateDto): Promise<Vm> {
    return this.service.create(body);
  }

  @Get()
  @RequireRoles('compute:read')
  @ApiOperation({
    summary:
      'List VMs, optionally only those of one worker (`?filter=worker=NAME`). The body is streamed as it is read, ' +
      'gzip-compressed when the request accepts it (lists of 100 VMs or more); with `limit`, pages continue from the ' +
      'cursor in `X-Next-Cursor`. With `?watch=true`, the whole fleet and then its changes as NDJSON.',
  })
  @ApiProduces('application/json', 'application/x-ndjson')
  @ApiOkResponse({ type: VmDto, isArray: true })
  @ApiHeader({ name: 'X-Next-Cursor', description: 'Response header: cursor of the next page, when there is one.' })
  async list(
    @Query() query: VmListQueryDto,
    @Headers('accept-encoding') acceptEncoding: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<StreamableFile | undefined> {
    if (query.watch === 'true') {
      await this.watchFleet(query, reply);
      return undefined;
    }
    const page = await this.service.list(query);
    if (page.nextCursor) {
      void reply.header('X-Next-Cursor', page.nextCursor);
    }
    void reply.header('vary', 'accept-encoding');
    const type = { type: 'application/json; charset=utf-8' };
    if (!page.fitsOneRead && acceptsGzip(acceptEncoding)) {
      void reply.header('content-encoding', 'gzip');
      return new StreamableFile(gzipJsonArrayStream(page.chunks), type);
    }
    return new StreamableFile(jsonArrayStream(page.chunks), type);
  }

  /** `GET /v1/vms?watch=true` (issue 16, vm-fleet-watch.ts). */
  private async watchFleet(query: VmListQueryDto, reply: FastifyReply): Promise<void> {
    const extra = (['filter', 'limit', 'cursor'] as const).filter((field) => query[field] !== undefined);
    if (extra.length > 0) {
      throw DomainError.invalid(extra.map((field) => ({ field, message: `${field} cannot be combined with watch` })));
    }
    if (this.watches.closed) {
      throw new DomainError(DomainErrorCode.Unavailable, 'the controller is shutting down');
    }
    const begin = () => {
      reply.hijack();
      return reply.raw;
    };
    await streamFleetWatch(begin, this.changes, async () => (await this.service.list({})).chunks, this.watches);
  }

  @Get(':name')
  @RequireRoles('compute:read')
  @ApiOperation({ summary: 'Get a VM, or with `?watch=true` stream its changes as NDJSON.' })
  @ApiOkResponse({ type: VmDto })
  @ApiProduces('application/json', 'application/x-ndjson')
  async get(
    @Param('name') name: string,
    @Query() query: VmGetQueryDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<Vm | undefined> {
    if (query.watch !== 'true') {
      return this.service.get(name);
    }
    if (this.watches.closed) {
      throw new DomainError(DomainErrorCode.Unavailable, 'the controller is shutting down');
    }
    reply.hijack();
    await streamVmWatch(
      name,
      reply.raw,
      this.changes,
      async () => {
        try {
          return await this.service.get(name);
        } catch (err) {
          if (err instanceof DomainError) {
            return undefined;
          }
          throw err;
        }
      },
      this.watches,
    );
    return undefined;
  }

  @Put(':name')
  @RequireRoles('compute:write')
  @ApiOperation({
    summary:
      'Update the VM spec (softnet, suspendable, usbAccessories, netSoftnetExpose, endpoints, hostProcesses, ' +
      'powerState; os, arch and runtime only to their current values); other fields are ignored. Changing ' +
      '`hostProcesses` needs `host-process:write` besides `compute:write`.',
  })
  @ApiOkResponse({ type: VmDto })
  updateSpec(@Param('name') name: string, @Body() body: VmDto, @Req() req: AuthenticatedRequest): Promise<Vm> {
    return this.service.updateSpec(name, body, req.serviceAccount!);
  }

  @Put(':name/state')
  @RequireRoles('compute:write')
  @ApiOperation({
    summary:
      'Report VM state (workers): status, status_message, image_fqn, observedGeneration, observedEndpoints, and the ' +
      'conditions `running` and `host-processes-ready`. A report carrying `uid` or `restart_count` of another ' +
      'incarnation gets 409.',
  })
  @ApiOkResponse({ type: VmDto })
  updateState(@Param('name') name: string, @Body() body: VmDto): Promise<Vm> {
    return this.service.updateState(name, body);
  }

  @Delete(':name')
  @RequireRoles('compute:write')
  @ApiOperation({ summary: 'Delete a VM and its events; its worker stops and deletes it.' })
  async delete(@Param('name') name: string): Promise<void> {
    await this.service.delete(name);
  }

  @Post(':name/events')
  @HttpCode(200)
  @RequireRoles('compute:write')
  @ApiOperation({ summary: 'Append events (workers upload startup-script output).' })
  @ApiBody({ type: VmEventDto, isArray: true })
  async appendEvents(
    @Param('name') name: string,
    @Body(
      new ParseArrayPipe({
        items: VmEventDto,
        whitelist: true,
        forbidNonWhitelisted: true,
        exceptionFactory: (errors) => DomainError.invalid(flattenValidationErrors(errors as never)),
      }),
    )
    events: VmEventDto[],
  ): Promise<void> {
    await this.service.appendEvents(name, events);
  }

  @Get(':name/events')
  @RequireRoles('compute:read')
  @ApiOperation({ summary: 'List events; with `limit`, pages continue from the cursor in `X-Next-Cursor`.' })
  @ApiOkResponse({ type: VmEventDto, isArray: true })
  @ApiHeader({ name: 'X-Next-Cursor', description: 'Response header: cursor of the next page, when there is one.' })
  async listEvents(
    @Param('name') name: string,
    @Query() query: VmEventListQueryDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<VmEvent[]> {
    const page = await this.service.listEvents(name, query);
    if (page.nextCursor) {
      void reply.header('X-Next-Cursor', page.nextCursor);
    }
    return page.items;
  }
}
