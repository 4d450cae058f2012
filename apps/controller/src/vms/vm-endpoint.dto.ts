import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  ENDPOINT_PROTOCOLS,
  OBSERVED_ENDPOINT_STATES,
  type EndpointProtocol,
  type ObservedEndpointState,
} from '@grove/resources';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsObject, IsOptional, IsString, Max, Min, ValidateNested } from 'class-validator';

// VM `endpoints` and `observedEndpoints` (orchard-2026.md §1.2.2).

/** A TCP/UDP port, 1–65535; `field` names it in the messages. */
function IsPort(field: string): PropertyDecorator {
  const message = `${field} must be a port between 1 and 65535`;
  return (target, key) => {
    IsInt({ message })(target, key);
    Min(1, { message })(target, key);
    Max(65535, { message })(target, key);
  };
}

export class VmEndpointVmTargetDto {
  @ApiProperty({ description: 'Port of the VM the worker relays to.', minimum: 1, maximum: 65535, example: 22 })
  @IsPort('port')
  port!: number;
}

export class VmEndpointTargetDto {
  @ApiProperty({ description: 'The VM itself (the only target).', type: VmEndpointVmTargetDto })
  @IsObject({ message: 'vm must be an object {port}' })
  @ValidateNested()
  @Type(() => VmEndpointVmTargetDto)
  vm!: VmEndpointVmTargetDto;
}

export class WorkerPortRangeDto {
  @ApiProperty({ description: 'Lowest worker port the listener may take.', minimum: 1, maximum: 65535 })
  @IsPort('min')
  min!: number;

  @ApiProperty({ description: 'Highest worker port the listener may take; equal to `min` for an exact port.' })
  @IsPort('max')
  max!: number;
}

export class VmEndpointDto {
  @ApiProperty({ description: 'Name of the endpoint, non-empty and unique within the VM.', example: 'ssh' })
  @IsString()
  name!: string;

  @ApiProperty({ description: 'Transport protocol the worker relays.', enum: ENDPOINT_PROTOCOLS })
  @IsIn(ENDPOINT_PROTOCOLS, { message: `protocol must be one of: ${ENDPOINT_PROTOCOLS.join(', ')}` })
  protocol!: EndpointProtocol;

  @ApiProperty({ description: 'Where the worker relays to: `{"vm": {"port": 22}}`.', type: VmEndpointTargetDto })
  @IsObject({ message: 'target must be an object {vm: {port}}' })
  @ValidateNested()
  @Type(() => VmEndpointTargetDto)
  target!: VmEndpointTargetDto;

  @ApiPropertyOptional({
    description:
      'Worker ports the listener may take (`min` ≤ `max`, equal bounds for an exact port); without it the worker ' +
      'lets the OS pick a free port. The scheduler keeps ranges of VMs on one worker from clashing.',
    type: WorkerPortRangeDto,
  })
  @IsOptional()
  @IsObject({ message: 'workerPortRange must be an object {min, max}' })
  @ValidateNested()
  @Type(() => WorkerPortRangeDto)
  workerPortRange?: WorkerPortRangeDto;
}

export class VmObservedEndpointDto {
  @ApiProperty({ description: 'Name of the endpoint in `endpoints`.' })
  @IsString()
  name!: string;

  @ApiProperty({ description: 'Its protocol.', enum: ENDPOINT_PROTOCOLS })
  @IsIn(ENDPOINT_PROTOCOLS, { message: `protocol must be one of: ${ENDPOINT_PROTOCOLS.join(', ')}` })
  protocol!: EndpointProtocol;

  @ApiPropertyOptional({ description: 'The worker port the listener took; absent when it has none.' })
  @IsOptional()
  @IsPort('workerPort')
  workerPort?: number;

  @ApiProperty({ description: '`listening`, or `error` with a `message`.', enum: OBSERVED_ENDPOINT_STATES })
  @IsIn(OBSERVED_ENDPOINT_STATES, { message: `state must be one of: ${OBSERVED_ENDPOINT_STATES.join(', ')}` })
  state!: ObservedEndpointState;

  @ApiPropertyOptional({ description: 'Why the listener is in state `error`.' })
  @IsOptional()
  @IsString()
  message?: string;
}
