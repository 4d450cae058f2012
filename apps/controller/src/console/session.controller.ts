import { Controller, Get, Req } from '@nestjs/common';
import { ApiBasicAuth, ApiOkResponse, ApiOperation, ApiProperty, ApiTags } from '@nestjs/swagger';
import { ROLES, type Role } from '@grove/resources';
import type { AuthenticatedRequest } from '../common/auth/auth.guard';

class SessionDto {
  @ApiProperty({ description: 'The service account the credentials belong to.', example: 'alice' })
  name!: string;

  @ApiProperty({
    description: "The account's roles: what it may do (the web console shows only the actions they allow).",
    enum: ROLES,
    isArray: true,
    example: ['compute:read', 'compute:connect'],
  })
  roles!: Role[];
}

/** Who is calling: the web console asks once after sign-in, to check the credentials and learn the roles. */
@ApiTags('service-accounts')
@ApiBasicAuth()
@Controller('v1')
export class SessionController {
  @Get('session')
  @ApiOperation({
    summary:
      'The calling service account and its roles, e.g. `{"name":"alice","roles":["compute:read"]}`; any valid ' +
      'account may read it (401 otherwise).',
  })
  @ApiOkResponse({ type: SessionDto })
  session(@Req() req: AuthenticatedRequest): SessionDto {
    const account = req.serviceAccount!;
    return { name: account.name, roles: [...account.roles] };
  }
}
