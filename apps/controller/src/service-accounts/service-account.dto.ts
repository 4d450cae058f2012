import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ROLES, type Role } from '@grove/resources';
import { ArrayUnique, IsArray, IsIn, IsNotEmpty, IsOptional, IsString, Matches, MaxLength } from 'class-validator';

const NAME_PATTERN = /^[A-Za-z0-9:\-_.]+$/;
const NAME_MESSAGE = 'name contains restricted characters, please only use [A-Za-z0-9:-_.]';

/** Fields both the create and the update body carry. */
class ServiceAccountBodyDto {
  @ApiProperty({ description: 'Unique name, `[A-Za-z0-9:-_.]`; used as the HTTP Basic user name.' })
  @IsString()
  @IsNotEmpty({ message: 'name must not be empty' })
  @Matches(NAME_PATTERN, { message: NAME_MESSAGE })
  name!: string;

  @ApiProperty({ description: 'Roles granted to the account.', enum: ROLES, isArray: true })
  @IsArray()
  @ArrayUnique()
  @IsIn(ROLES, { each: true, message: `each value in roles must be one of: ${ROLES.join(', ')}` })
  roles!: Role[];

  @ApiPropertyOptional({ description: 'Read-only; accepted for Orchard client compatibility and ignored.' })
  @IsOptional()
  @IsString()
  createdAt?: string;
}

export class ServiceAccountCreateDto extends ServiceAccountBodyDto {
  @ApiPropertyOptional({
    description: 'Token (HTTP Basic password). Generated when absent. Stored hashed; returned only in this response.',
  })
  @IsOptional()
  @IsString()
  @MaxLength(1024)
  token?: string;
}

/**
 * Orchard's PUT replaces the token and roles and needs a token ("service account token is empty", still so in the
 * newest Orchard): a separate class, since class-validator runs a parent's `@IsOptional()` for a redeclared field too
 * and a missing token then reached the hashing (500, issue 12 item 4).
 */
export class ServiceAccountUpdateDto extends ServiceAccountBodyDto {
  @ApiProperty({ description: 'New token (required, as in Orchard). Returned only in this response.' })
  @IsString({ message: 'token is required (a string)' })
  @IsNotEmpty({ message: 'token must not be empty' })
  @MaxLength(1024)
  token!: string;
}

export class ServiceAccountResponseDto {
  @ApiProperty({ description: 'Unique name.' })
  name!: string;

  @ApiProperty({ description: 'Creation time (RFC 3339).' })
  createdAt!: string;

  @ApiProperty({ description: 'Roles of the account.', enum: ROLES, isArray: true })
  roles!: Role[];

  @ApiPropertyOptional({ description: 'The token; present only in the response that created or rotated it.' })
  token?: string;
}
