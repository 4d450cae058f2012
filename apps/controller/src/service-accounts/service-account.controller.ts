import { Body, Controller, HttpCode, Delete, Get, Param, Post, Put } from '@nestjs/common';
import { ApiBasicAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { ServiceAccount } from '@grove/resources';
import { RequireRoles } from '../common/auth/roles.decorator';
import { DomainError } from '../common/domain-error';
import { ServiceAccountCreateDto, ServiceAccountResponseDto, ServiceAccountUpdateDto } from './service-account.dto';
import { ServiceAccountService } from './service-account.service';

@ApiTags('service-accounts')
@ApiBasicAuth()
@Controller('v1/service-accounts')
export class ServiceAccountController {
  constructor(private readonly service: ServiceAccountService) {}

  @Post()
  @HttpCode(200)
  @RequireRoles('admin:write')
  @ApiOperation({ summary: 'Create a service account; the response carries its token, shown only this once.' })
  @ApiOkResponse({ type: ServiceAccountResponseDto })
  create(@Body() body: ServiceAccountCreateDto): Promise<ServiceAccount> {
    return this.service.create(body);
  }

  @Get()
  @RequireRoles('admin:read')
  @ApiOperation({ summary: 'List service accounts (without tokens).' })
  @ApiOkResponse({ type: ServiceAccountResponseDto, isArray: true })
  list(): Promise<ServiceAccount[]> {
    return this.service.list();
  }

  @Get(':name')
  @RequireRoles('admin:read')
  @ApiOperation({ summary: 'Get a service account (without its token).' })
  @ApiOkResponse({ type: ServiceAccountResponseDto })
  get(@Param('name') name: string): Promise<ServiceAccount> {
    return this.service.get(name);
  }

  @Put(':name')
  @RequireRoles('admin:write')
  @ApiOperation({ summary: 'Replace the roles and token of a service account; the new token is returned once.' })
  @ApiOkResponse({ type: ServiceAccountResponseDto })
  update(@Param('name') name: string, @Body() body: ServiceAccountUpdateDto): Promise<ServiceAccount> {
    if (body.name !== name) {
      throw DomainError.invalid([{ field: 'name', message: `must match the name in the path ("${name}")` }]);
    }
    return this.service.update(name, body);
  }

  @Delete(':name')
  @RequireRoles('admin:write')
  @ApiOperation({ summary: 'Delete a service account.' })
  async delete(@Param('name') name: string): Promise<void> {
    await this.service.delete(name);
  }
}
