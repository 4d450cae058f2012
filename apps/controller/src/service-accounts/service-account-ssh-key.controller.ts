import { Body, Controller, Delete, Get, HttpCode, Param, Post } from '@nestjs/common';
import { ApiBasicAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { SshKey } from '@grove/resources';
import { RequireRoles } from '../common/auth/roles.decorator';
import { SshKeyCreateDto, SshKeyResponseDto } from './service-account-ssh-key.dto';
import { ServiceAccountSshKeyService } from './service-account-ssh-key.service';

/** `/v1/service-accounts/{name}/ssh-keys`: public keys for the SSH gateway (a Grove addition, not in Orchard). */
@ApiTags('service-accounts')
@ApiBasicAuth()
@Controller('v1/service-accounts/:name/ssh-keys')
export class ServiceAccountSshKeyController {
  constructor(private readonly keys: ServiceAccountSshKeyService) {}

  @Get()
  @RequireRoles('admin:read')
  @ApiOperation({
    summary: "List the SSH public keys a service account can log in to the controller's SSH gateway with.",
  })
  @ApiOkResponse({ type: SshKeyResponseDto, isArray: true })
  list(@Param('name') name: string): Promise<SshKey[]> {
    return this.keys.list(name);
  }

  @Post()
  @HttpCode(200)
  @RequireRoles('admin:write')
  @ApiOperation({
    summary:
      'Attach an SSH public key to a service account (400 when it is not one OpenSSH public key, 409 when attached).',
  })
  @ApiOkResponse({ type: SshKeyResponseDto })
  add(@Param('name') name: string, @Body() body: SshKeyCreateDto): Promise<SshKey> {
    return this.keys.add(name, body);
  }

  @Delete(':fingerprint')
  @RequireRoles('admin:write')
  @ApiOperation({ summary: 'Remove an SSH public key by its fingerprint (`SHA256:…`, URL-encoded; prefix optional).' })
  async remove(@Param('name') name: string, @Param('fingerprint') fingerprint: string): Promise<void> {
    await this.keys.remove(name, fingerprint);
  }
}
