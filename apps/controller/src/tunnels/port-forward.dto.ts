import { ApiPropertyOptional } from '@nestjs/swagger';
import {
  IsIn,
  IsNotEmpty,
  IsOptional,
  IsString,
  Matches,
  registerDecorator,
  ValidateIf,
  type ValidationArguments,
} from 'class-validator';

export const PORT_PATTERN = /^([1-9]\d{0,3}|[1-5]\d{4}|6[0-4]\d{3}|65[0-4]\d{2}|655[0-2]\d|6553[0-5])$/;
export const SECONDS_PATTERN = /^([0-9]\d{0,3}|[1-5]\d{4}|6[0-4]\d{3}|65[0-4]\d{2}|655[0-2]\d|6553[0-5])$/;

/** Seconds a port-forward waits for its VM to run and its worker to answer when the request does not say. */
export const DEFAULT_PORT_FORWARD_WAIT_SECONDS = 10;

/** What a VM port-forward may reach instead of a port (Orchard's `target`, orchard-2026.md §1.2.4): only this one. */
export const PORT_FORWARD_TARGETS = ['tart-guest-agent'] as const;
export type PortForwardTargetName = (typeof PORT_FORWARD_TARGETS)[number];

/** The field may not be given together with any of `others`; the message names those present. */
function NotCombinedWith(...others: string[]): PropertyDecorator {
  const present = (args: ValidationArguments) =>
    others.filter((other) => (args.object as Record<string, unknown>)[other] !== undefined);
  return (target, propertyName) =>
    registerDecorator({
      name: 'notCombinedWith',
      target: target.constructor,
      propertyName: propertyName as string,
      options: { message: (args) => `${String(propertyName)} cannot be combined with ${present(args).join(' or ')}` },
      validator: { validate: (_value: unknown, args?: ValidationArguments) => !args || present(args).length === 0 },
    });
}

/** `wait`, shared by every port-forward. */
class PortForwardWaitQuery {
  @ApiPropertyOptional({
    description: 'Seconds to wait for the VM to be running and its worker reachable (0–65535, default 10).',
  })
  @IsOptional()
  @Matches(SECONDS_PATTERN, { message: 'wait must be an integer from 0 to 65535 (seconds)' })
  wait?: string;
}

/** Query of `GET /v1/workers/{name}/port-forward`. */
export class PortForwardQueryDto extends PortForwardWaitQuery {
  @ApiPropertyOptional({ description: 'TCP port to connect to (1–65535); required.' })
  @Matches(PORT_PATTERN, { message: 'port must be an integer from 1 to 65535' })
  port!: string;
}

/** Query of `GET /v1/vms/{name}/port-forward`: a TCP port of the VM, its Tart guest agent, or one of its host processes. */
export class VmPortForwardQueryDto extends PortForwardWaitQuery {
  @ApiPropertyOptional({
    description: 'TCP port to connect to (1–65535); required unless `target` or `hostProcess` is given.',
  })
  @ValidateIf(
    (query: VmPortForwardQueryDto) =>
      (query.target === undefined && query.hostProcess === undefined) || query.port !== undefined,
  )
  @Matches(PORT_PATTERN, { message: 'port must be an integer from 1 to 65535' })
  port?: string;

  @ApiPropertyOptional({
    description:
      "Instead of a port: `tart-guest-agent`, the VM's Tart guest agent (its gRPC `Agent` service, reached through " +
      "the VM's control socket), the only target. Cannot be combined with `port` or `hostProcess`. Needs the role " +
      '`compute:write` or `compute:connect:tart-guest-agent` (`compute:connect` is not enough), and a worker with the ' +
      'capability `tunnel-guest-agent` (503 otherwise).',
    enum: PORT_FORWARD_TARGETS,
  })
  @IsOptional()
  @IsIn(PORT_FORWARD_TARGETS, { message: `target must be ${PORT_FORWARD_TARGETS.join(' or ')}` })
  @NotCombinedWith('port', 'hostProcess')
  target?: PortForwardTargetName;

  @ApiPropertyOptional({
    description:
      "Instead of a port: the name of one of the VM's `hostProcesses`; the worker connects to the Unix socket the " +
      'process listens on (`ORCHARD_PROCESS_SOCKET`). Cannot be combined with `port` or `target`. Needs the role ' +
      '`host-process:connect` and one of `compute:write`, `compute:connect`, and a worker with the capability ' +
      '`host-processes` (503 otherwise); 404 when the VM declares no host process of that name.',
    example: 'echo',
  })
  @IsOptional()
  @IsString({ message: 'hostProcess must be a string' })
  @IsNotEmpty({ message: 'hostProcess must not be empty' })
  @NotCombinedWith('port', 'target')
  hostProcess?: string;
}

export class IpQueryDto {
  @ApiPropertyOptional({ description: 'Seconds to wait for the VM to be running and to have an address (default 0).' })
  @IsOptional()
  @Matches(SECONDS_PATTERN, { message: 'wait must be an integer from 0 to 65535 (seconds)' })
  wait?: string;
}
