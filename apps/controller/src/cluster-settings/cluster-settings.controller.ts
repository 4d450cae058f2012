import { Body, Controller, Get, Put } from '@nestjs/common';
import { ApiBasicAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { ClusterSettings } from '@grove/resources';
import { RequireRoles } from '../common/auth/roles.decorator';
import { ClusterSettingsDto } from './cluster-settings.dto';
import { ClusterSettingsService } from './cluster-settings.service';

@ApiTags('cluster-settings')
@ApiBasicAuth()
@Controller('v1/cluster-settings')
export class ClusterSettingsController {
  constructor(private readonly service: ClusterSettingsService) {}

  @Get()
  @RequireRoles('admin:read')
  @ApiOperation({ summary: 'Get the cluster settings.' })
  @ApiOkResponse({ type: ClusterSettingsDto })
  get(): Promise<ClusterSettings> {
    return this.service.get();
  }

  @Put()
  @RequireRoles('admin:write')
  @ApiOperation({ summary: 'Replace the cluster settings.' })
  @ApiOkResponse({ type: ClusterSettingsDto })
  set(@Body() body: ClusterSettingsDto): Promise<ClusterSettings> {
    return this.service.set(body);
  }
}
