import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ARCHITECTURES, RUNTIMES, type Architecture, type Runtime } from '@grove/resources';
import { IsArray, IsBoolean, IsIn, IsInt, IsNotEmpty, IsOptional, IsString, Matches, Min } from 'class-validator';
import { IsLabelMap, IsResourceMap } from '../common/map-validators';

export class WorkerDto {
  @ApiProperty({ description: 'Unique worker name, `[A-Za-z0-9:-_.]`.' })
  @IsString()
  @IsNotEmpty({ message: 'name must not be empty' })
  @Matches(/^[A-Za-z0-9:\-_.]+$/, { message: 'name contains restricted characters, please only use [A-Za-z0-9:-_.]' })
  name!: string;

  @ApiPropertyOptional({
    description: 'Machine identity (IOPlatformUUID or /etc/machine-id); a name stays bound to it.',
  })
  @IsOptional()
  @IsString()
  machine_id?: string;

  @ApiPropertyOptional({ description: 'Last heartbeat (RFC 3339). Absent or zero keeps the stored value on update.' })
  @IsOptional()
  @IsString()
  last_seen?: string;

  @ApiPropertyOptional({ description: 'When true, the scheduler assigns no new VMs to this worker.' })
  @IsOptional()
  @IsBoolean()
  scheduling_paused?: boolean;

  @ApiPropertyOptional({ description: 'Resources the worker offers, e.g. `{"org.cirruslabs.tart-vms": 2}`.' })
  @IsOptional()
  @IsResourceMap()
  resources?: Record<string, number>;

  @ApiPropertyOptional({
    description:
      'Labels VMs can require. Every worker also carries `org.cirruslabs.orchard.worker-name=<its name>`, added by ' +
      'the controller, so that a VM can pin itself to one worker.',
  })
  @IsOptional()
  @IsLabelMap()
  labels?: Record<string, string>;

  @ApiPropertyOptional({ description: 'CPUs given to VMs that do not ask for a number.' })
  @IsOptional()
  @IsInt()
  @Min(0)
  defaultCPU?: number;

  @ApiPropertyOptional({ description: 'Memory (MiB) given to VMs that do not ask for an amount.' })
  @IsOptional()
  @IsInt()
  @Min(0)
  defaultMemory?: number;

  @ApiPropertyOptional({ description: 'CPU architecture; default `arm64`.', enum: ARCHITECTURES })
  @IsOptional()
  @IsIn([...ARCHITECTURES, ''], { message: `arch must be one of: ${ARCHITECTURES.join(', ')}` })
  arch?: Architecture | '';

  @ApiPropertyOptional({ description: 'VM runtime; default `tart`.', enum: RUNTIMES })
  @IsOptional()
  @IsIn([...RUNTIMES, ''], { message: `runtime must be one of: ${RUNTIMES.join(', ')}` })
  runtime?: Runtime | '';

  @ApiPropertyOptional({
    description:
      'What the worker can do beyond the baseline, e.g. `vm-exposed-ports` (it runs VMs with `netSoftnetExpose`). ' +
      'Replaced at every registration; ignored by updates.',
    type: [String],
  })
  @IsOptional()
  @IsArray()
  @IsString({ each: true })
  capabilities?: string[];

  @ApiPropertyOptional({ description: 'Read-only; accepted for Orchard client compatibility and ignored.' })
  @IsOptional()
  @IsString()
  createdAt?: string;

  @ApiPropertyOptional({ description: 'Read-only; accepted for Orchard client compatibility and ignored.' })
  @IsOptional()
  version?: unknown;

  @ApiPropertyOptional({
    description:
      'Read-only (Grove): the controller replica holding the worker\'s session — `{"replica", "connected_at", "up"}`; ' +
      'absent when it has none. Accepted in requests and ignored.',
  })
  @IsOptional()
  session?: unknown;
}
