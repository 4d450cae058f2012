import { Body, Controller, HttpCode, Delete, Get, Param, Post, Put } from '@nestjs/common';
import { ApiBasicAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Worker } from '@grove/resources';
import { RequireRoles } from '../common/auth/roles.decorator';
import { DomainError } from '../common/domain-error';
import { WorkerDto } from './worker.dto';
import { WorkerService } from './worker.service';

@ApiTags('workers')
@ApiBasicAuth()
@Controller('v1/workers')
export class WorkerController {
  constructor(private readonly service: WorkerService) {}

  @Post()
  @HttpCode(200)
  @RequireRoles('compute:write')
  @ApiOperation({ summary: 'Register a worker, or refresh the registration of the same machine.' })
  @ApiOkResponse({ type: WorkerDto })
  register(@Body() body: WorkerDto): Promise<Worker> {
    return this.service.register(body);
  }

  @Get()
  @RequireRoles('compute:read')
  @ApiOperation({ summary: 'List workers.' })
  @ApiOkResponse({ type: WorkerDto, isArray: true })
  list(): Promise<Worker[]> {
    return this.service.listWithSessions();
  }

  @Get(':name')
  @RequireRoles('compute:read')
  @ApiOperation({ summary: 'Get a worker.' })
  @ApiOkResponse({ type: WorkerDto })
  get(@Param('name') name: string): Promise<Worker> {
    return this.service.getWithSession(name);
  }

  @Put(':name')
  @RequireRoles('compute:write')
  @ApiOperation({ summary: 'Sparse update: heartbeat (`last_seen`) and `scheduling_paused`.' })
  @ApiOkResponse({ type: WorkerDto })
  update(@Param('name') name: string, @Body() body: WorkerDto): Promise<Worker> {
    if (body.name !== name) {
      throw DomainError.invalid([{ field: 'name', message: `must match the name in the path ("${name}")` }]);
    }
    return this.service.update(name, body);
  }

  @Delete(':name')
  @RequireRoles('compute:write')
  @ApiOperation({ summary: 'Delete a worker; its VMs are failed by the scheduler.' })
  async delete(@Param('name') name: string): Promise<void> {
    await this.service.delete(name);
  }
}
