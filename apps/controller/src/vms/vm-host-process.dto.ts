import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsArray, IsOptional, IsString } from 'class-validator';
import { IsLabelMap } from '../common/map-validators';

/** The variables the worker sets for a host process, and expands as `${NAME}` in its args (orchard-2026.md §1.2.3). */
const WORKER_VARIABLES =
  '`ORCHARD_WORKER_NAME` (the worker’s name), `ORCHARD_VM_NAME` (the VM’s name), `ORCHARD_VM_CONTROL_SOCKET` (an ' +
  'alias of the VM’s Tart control socket in the process’s directory) and `ORCHARD_PROCESS_SOCKET` (the Unix socket ' +
  'the process must listen on)';
/** Grove's extension (docs/api-compatibility.md): the same four under Grove's name. */
const GROVE_TWINS =
  'Grove workers also set `GROVE_WORKER_NAME`, `GROVE_VM_NAME`, `GROVE_VM_CONTROL_SOCKET` and `GROVE_PROCESS_SOCKET` ' +
  'to the same values';

/**
 * A process the worker runs on its host beside the VM (orchard-2026.md §1.2.3). Names, emptiness and environment
 * variable names are checked by the resource rules (`validateHostProcesses`), which name the item and field.
 */
export class HostProcessDto {
  @ApiProperty({
    description:
      'Name of the process, unique within the VM, `[A-Za-z0-9:-_.]`; `GET /v1/vms/{name}/port-forward?hostProcess=' +
      'NAME` reaches it.',
    example: 'echo',
  })
  @IsString({ message: 'name must be a string' })
  name!: string;

  @ApiProperty({
    description: 'The program to run: a path on the worker, or a name looked up in the worker’s `PATH`. Not empty.',
    example: '/usr/local/bin/echo-server',
  })
  @IsString({ message: 'program must be a string' })
  program!: string;

  @ApiPropertyOptional({
    description:
      `Arguments, passed without a shell. The placeholders \`\${ORCHARD_WORKER_NAME}\`, \`\${ORCHARD_VM_NAME}\`, ` +
      `\`\${ORCHARD_VM_CONTROL_SOCKET}\` and \`\${ORCHARD_PROCESS_SOCKET}\` are replaced by their values (on Grove ` +
      'workers also their `${GROVE_…}` twins); nothing else is expanded.',
    type: [String],
    example: ['--listen', '${ORCHARD_PROCESS_SOCKET}'],
  })
  @IsOptional()
  @IsArray({ message: 'args must be an array of strings' })
  @IsString({ each: true, message: 'args must be an array of strings' })
  args?: string[] | null;

  @ApiPropertyOptional({
    description:
      `Environment variables of the process (names \`[A-Za-z_][A-Za-z0-9_]*\`). The worker adds its own \`PATH\` and ` +
      `${WORKER_VARIABLES}, which win over variables of the same name here. ${GROVE_TWINS}, and pass nothing else of ` +
      'their own environment.',
    type: 'object',
    additionalProperties: { type: 'string' },
    example: { LOG_LEVEL: 'debug' },
  })
  @IsOptional()
  @IsLabelMap({ message: 'env must be an object mapping variable names to strings' })
  env?: Record<string, string> | null;
}

/** The description of `VmDto.hostProcesses`. */
export const HOST_PROCESSES_DESCRIPTION =
  'Processes the worker runs on its host beside the VM ("sidecars"), e.g. a proxy to a service of the VM. The worker ' +
  'starts each one before the VM, in a fresh directory of its own (its working directory) and in its own process ' +
  'group, which it kills as a whole when the process is no longer wanted. Each process gets the environment ' +
  `variables ${WORKER_VARIABLES} (${GROVE_TWINS}); it must listen on that socket, where ` +
  '`GET /v1/vms/{name}/port-forward?hostProcess=NAME` connects. The VM gets the condition `host-processes-ready` ' +
  'once every process accepts connections. Setting or changing them needs the role `host-process:write` besides ' +
  '`compute:write`, and a worker with the capability `host-processes`. May be updated at any time (an update that ' +
  'leaves the field out keeps it, `[]` removes them all): the worker restarts the processes, not the VM.';
