import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, Matches } from 'class-validator';

const PORT = /^([1-9]\d{0,3}|[1-5]\d{4}|6[0-4]\d{3}|65[0-4]\d{2}|655[0-2]\d|6553[0-5])$/;
const SECONDS = /^([0-9]\d{0,3}|[1-5]\d{4}|6[0-4]\d{3}|65[0-4]\d{2}|655[0-2]\d|6553[0-5])$/;

export class PortForwardQueryDto {
  @ApiPropertyOptional({ description: 'TCP port to connect to (1–65535); required.' })
  @Matches(PORT, { message: 'port must be an integer from 1 to 65535' })
  port!: string;

  @ApiPropertyOptional({
    description: 'Seconds to wait for the VM to be running and its worker reachable (0–65535, default 10).',
  })
  @IsOptional()
  @Matches(SECONDS, { message: 'wait must be an integer from 0 to 65535 (seconds)' })
  wait?: string;
}

export class IpQueryDto {
  @ApiPropertyOptional({ description: 'Seconds to wait for the VM to be running and to have an address (default 0).' })
  @IsOptional()
  @Matches(SECONDS, { message: 'wait must be an integer from 0 to 65535 (seconds)' })
  wait?: string;
}
