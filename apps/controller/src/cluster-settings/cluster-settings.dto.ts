import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { SCHEDULER_PROFILES, type SchedulerProfile } from '@grove/resources';
import { Type } from 'class-transformer';
import { IsArray, IsBoolean, IsIn, IsNotEmpty, IsOptional, IsString, ValidateNested } from 'class-validator';

export class HostDirPolicyDto {
  @ApiProperty({ description: 'Host path prefix under which VMs may mount directories (plain string prefix).' })
  @IsString()
  @IsNotEmpty({ message: 'pathPrefix field cannot be empty' })
  pathPrefix!: string;

  @ApiPropertyOptional({ description: 'Only read-only mounts are allowed under this prefix.' })
  @IsOptional()
  @IsBoolean()
  ro?: boolean;
}

export class ClusterSettingsDto {
  @ApiPropertyOptional({
    description: 'Policies for VM host directories; none means no host directory is allowed.',
    type: [HostDirPolicyDto],
  })
  @IsOptional()
  @IsArray()
  @ValidateNested({ each: true })
  @Type(() => HostDirPolicyDto)
  hostDirPolicies?: HostDirPolicyDto[];

  @ApiPropertyOptional({
    description:
      'How the scheduler picks workers: pack (`optimize-utilization`, default) or spread (`distribute-load`).',
    enum: SCHEDULER_PROFILES,
  })
  @IsOptional()
  @IsIn([...SCHEDULER_PROFILES, ''], { message: `schedulerProfile must be one of: ${SCHEDULER_PROFILES.join(', ')}` })
  schedulerProfile?: SchedulerProfile | '';
}
