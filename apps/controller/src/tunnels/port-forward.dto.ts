import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, Matches, registerDecorator, ValidateIf, type ValidationArguments } from 'class-validator';

const PORT = /^([1-9]\d{0,3}|[1-5]\d{4}|6[0-4]\d{3}|65[0-4]\d{2}|655[0-2]\d|6553[0-5])$/;
const SECONDS = /^([0-9]\d{0,3}|[1-5]\d{4}|6[0-4]\d{3}|65[0-4]\d{2}|655[0-2]\d|6553[0-5])$/;

/** What a VM port-forward may reach instead of a port (Orchard's `target`, orchard-2026.md §1.2.4): only this one. */
export const PORT_FORWARD_TARGETS = ['tart-guest-agent'] as const;
export type PortForwardTargetName = (typeof PORT_FORWARD_TARGETS)[number];

/** The field may not be given together with any of `others` (which each name what they reach). */
function NotCombinedWith(...others: string[]): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({
      name: 'notCombinedWith',
      target: target.constructor,
      propertyName: propertyName as string,
      options: { message: `${String(propertyName)} cannot be combined with ${others.join(' or ')}` },
      validator: {
        validate: (_value: unknown, args?: ValidationArguments) =>
          others.every((other) => (args?.object as Record<string, unknown>)[other] === undefined),
      },
    });
}

/** `wait`, shared by every port-forward. */
class PortForwardWaitQuery {
  @ApiPropertyOptional({
    description: 'Seconds to wait for the VM to be running and its worker reachable (0–65535, default 10).',
  })
  @IsOptional()
  @Matches(SECONDS, { message: 'wait must be an integer from 0 to 65535 (seconds)' })
  wait?: string;
}

/** Query of `GET /v1/workers/{name}/port-forward`. */
export class PortForwardQueryDto extends PortForwardWaitQuery {
  @ApiPropertyOptional({ description: 'TCP port to connect to (1–65535); required.' })
  @Matches(PORT, { message: 'port must be an integer from 1 to 65535' })
  port!: string;
}

/** Query of `GET /v1/vms/{name}/port-forward`: a TCP port of the VM, or its Tart guest agent. */
export class VmPortForwardQueryDto extends PortForwardWaitQuery {
  @ApiPropertyOptional({ description: 'TCP port to connect to (1–65535); required unless `target` is given.' })
  @ValidateIf((query: VmPortForwardQueryDto) => query.target === undefined || query.port !== undefined)
  @Matches(PORT, { message: 'port must be an integer from 1 to 65535' })
  port?: string;

  @ApiPropertyOptional({
    description:
      "Instead of a port: `tart-guest-agent`, the VM's Tart guest agent (its gRPC `Agent` service, reached through " +
      "the VM's control socket), the only target. Cannot be combined with `port`. Needs the role `compute:write` or " +
      '`compute:connect:tart-guest-agent` (`compute:connect` is not enough), and a worker with the capability ' +
      '`tunnel-guest-agent` (503 otherwise).',
    enum: PORT_FORWARD_TARGETS,
  })
  @IsOptional()
  @IsIn(PORT_FORWARD_TARGETS, { message: `target must be ${PORT_FORWARD_TARGETS.join(' or ')}` })
  @NotCombinedWith('port')
  target?: PortForwardTargetName;
}

export class IpQueryDto {
  @ApiPropertyOptional({ description: 'Seconds to wait for the VM to be running and to have an address (default 0).' })
  @IsOptional()
  @Matches(SECONDS, { message: 'wait must be an integer from 0 to 65535 (seconds)' })
  wait?: string;
}
