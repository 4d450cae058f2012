import { Body, Controller, HttpCode, Param, Post, Req } from '@nestjs/common';
import { ApiBasicAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { AuthenticatedRequest } from '../common/auth/auth.guard';
import { RequireAnyRole } from '../common/auth/roles.decorator';
import { VmService } from '../vms/vm.service';
import { PreviewCreateDto, PreviewDto } from './preview.dto';
import { PreviewKey } from './preview-key';
import { PREVIEW_PREFIX } from './preview-proxy';
import { signPreviewToken } from './preview-token';

/** How long a preview link works. */
export const PREVIEW_TTL_MS = 60 * 60 * 1000;

@ApiTags('tunnels')
@ApiBasicAuth()
@Controller('v1/vms')
export class PreviewController {
  constructor(
    private readonly vms: VmService,
    private readonly key: PreviewKey,
  ) {}

  @Post(':name/previews')
  @HttpCode(200)
  @RequireAnyRole('compute:write', 'compute:connect')
  @ApiOperation({
    summary:
      'A preview link to an HTTP port of the VM, e.g. `{"url":"/preview/…/","expiresAt":"…"}`: for an hour, HTTP ' +
      'requests under the URL reach that port through its worker, without credentials (docs/console.md). Needs ' +
      '`compute:write` or `compute:connect`, as a port-forward; 404 if the VM does not exist.',
  })
  @ApiOkResponse({ type: PreviewDto })
  async create(
    @Param('name') name: string,
    @Body() body: PreviewCreateDto,
    @Req() req: AuthenticatedRequest,
  ): Promise<PreviewDto> {
    const vm = await this.vms.get(name);
    const expiresAt = Date.now() + PREVIEW_TTL_MS;
    const token = signPreviewToken(this.key.get(), {
      vm: vm.name,
      uid: vm.uid,
      port: body.port,
      account: req.serviceAccount!.name,
      expiresAt,
    });
    return { url: `${PREVIEW_PREFIX}${token}/`, expiresAt: new Date(expiresAt).toISOString() };
  }
}
