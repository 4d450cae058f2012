import { Controller, Get } from '@nestjs/common';
import { ApiBasicAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { RequireRoles } from '../common/auth/roles.decorator';
import { ClusterStatusDto } from './status.dto';
import { StatusService } from './status.service';

@ApiTags('status')
@ApiBasicAuth()
@Controller('v1')
export class StatusController {
  constructor(private readonly status: StatusService) {}

  @Get('status')
  @RequireRoles('compute:read')
  @ApiOperation({
    summary:
      'Grove extension (not in Orchard): the cluster at a glance, as `grove status` shows it — workers with their ' +
      'state, session and resources used of total, VMs by status, the pending VMs and why they wait, and the ' +
      'sessions in progress on the replica that answered.',
  })
  @ApiOkResponse({ type: ClusterStatusDto })
  get(): Promise<ClusterStatusDto> {
    return this.status.status();
  }
}
