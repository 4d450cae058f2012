import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  ARCHITECTURES,
  CONDITION_STATES,
  CONDITION_TYPES,
  EVENT_KINDS,
  WRITABLE_EVENT_KINDS,
  IMAGE_PULL_POLICIES,
  OPERATING_SYSTEMS,
  POWER_STATES,
  RESTART_POLICIES,
  RUNTIMES,
  VM_STATUSES,
  type ConditionState,
  type ConditionType,
  type EventKind,
} from '@grove/resources';
import { Type } from 'class-transformer';
import {
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsNotEmpty,
  IsOptional,
  IsString,
  Matches,
  Min,
  ValidateNested,
} from 'class-validator';
import { IsLabelMap, IsResourceMap } from '../common/map-validators';
import { VmEndpointDto, VmObservedEndpointDto } from './vm-endpoint.dto';
import { HOST_PROCESSES_DESCRIPTION, HostProcessDto } from './vm-host-process.dto';

/** Enum fields accept "" as "not set", because Go clients serialise unset strings that way. */
function oneOf(values: readonly string[], field: string) {
  return IsIn([...values, ''], { message: `${field} must be one of: ${values.join(', ')}` });
}

export class HostDirDto {
  @ApiProperty({ description: 'Mount name; in macOS guests it appears under /Volumes/My Shared Files/<name>.' })
  @IsString()
  name!: string;

  @ApiProperty({ description: 'Host path (or an http(s) URL of an archive) to share; must match a cluster policy.' })
  @IsString()
  path!: string;

  @ApiPropertyOptional({ description: 'Mount read-only.' })
  @IsOptional()
  @IsBoolean()
  ro?: boolean;
}

export class StartupScriptDto {
  @ApiProperty({ description: 'Script run by a login shell over SSH once the VM has booted.' })
  @IsString()
  script_content!: string;

  @ApiPropertyOptional({ description: 'Environment variables exported before the script runs.' })
  @IsOptional()
  @IsLabelMap()
  env?: Record<string, string>;
}

export class VmConditionDto {
  @ApiProperty({ description: 'Condition type.', enum: CONDITION_TYPES })
  @IsIn(CONDITION_TYPES)
  type!: ConditionType;

  @ApiProperty({ description: '"true" or "false".', enum: CONDITION_STATES })
  @IsIn(CONDITION_STATES)
  state!: ConditionState;
}

/**
 * The VM document as clients send it. Orchard's Go client sends the whole VM, read-only fields included, so those
 * are accepted here and ignored where the endpoint does not use them.
 */
export class VmDto {
  @ApiPropertyOptional({ description: 'Unique VM name, `[A-Za-z0-9:-_.]`.' })
  @IsOptional()
  @IsString()
  @Matches(/^[A-Za-z0-9:\-_.]*$/, { message: 'name contains restricted characters, please only use [A-Za-z0-9:-_.]' })
  name?: string;

  @ApiPropertyOptional({
    description: 'OCI image reference, or the local name of a stopped/suspended VM on the same worker.',
  })
  @IsOptional()
  @IsString()
  image?: string;

  @ApiPropertyOptional({
    description: '`IfNotPresent` (default) or `Always` (pull before cloning).',
    enum: IMAGE_PULL_POLICIES,
  })
  @IsOptional()
  @oneOf(IMAGE_PULL_POLICIES, 'imagePullPolicy')
  imagePullPolicy?: string;

  @ApiPropertyOptional({ description: 'CPUs; 0 lets the worker default decide.' })
  @IsOptional()
  @IsInt()
  @Min(0)
  cpu?: number;

  @ApiPropertyOptional({ description: 'Memory in MiB; 0 lets the worker default decide.' })
  @IsOptional()
  @IsInt()
  @Min(0)
  memory?: number;

  @ApiPropertyOptional({ description: 'Disk size in GB; 0 keeps the image size.' })
  @IsOptional()
  @IsInt()
  @Min(0)
  diskSize?: number;

  @ApiPropertyOptional({ description: 'Host interface for bridged networking (`tart run --net-bridged`).' })
  @IsOptional()
  @IsString()
  'net-bridged'?: string;

  @ApiPropertyOptional({ description: 'Run without a graphics window (`--no-graphics`).' })
  @IsOptional()
  @IsBoolean()
  headless?: boolean;

  @ApiPropertyOptional({ description: 'Enable nested virtualisation (`--nested`).' })
  @IsOptional()
  @IsBoolean()
  nested?: boolean;

  @ApiPropertyOptional({ description: 'Guest OS; default `darwin`. Immutable.', enum: OPERATING_SYSTEMS })
  @IsOptional()
  @oneOf(OPERATING_SYSTEMS, 'os')
  os?: string;

  @ApiPropertyOptional({ description: 'Architecture; default `arm64`. Immutable.', enum: ARCHITECTURES })
  @IsOptional()
  @oneOf(ARCHITECTURES, 'arch')
  arch?: string;

  @ApiPropertyOptional({ description: 'Runtime; default `tart`. Immutable.', enum: RUNTIMES })
  @IsOptional()
  @oneOf(RUNTIMES, 'runtime')
  runtime?: string;

  @ApiPropertyOptional({ description: 'Deprecated alias of `netSoftnet`, kept in sync with it.' })
  @IsOptional()
  @IsBoolean()
  'net-softnet'?: boolean;

  @ApiPropertyOptional({ description: 'Isolate the VM with Softnet (`--net-softnet`).' })
  @IsOptional()
  @IsBoolean()
  netSoftnet?: boolean;

  @ApiPropertyOptional({ description: 'CIDRs the VM may reach through Softnet; implies Softnet.', type: [String] })
  @IsOptional()
  @IsArray()
  @IsString({ each: true })
  netSoftnetAllow?: string[];

  @ApiPropertyOptional({ description: 'CIDRs Softnet blocks; implies Softnet.', type: [String] })
  @IsOptional()
  @IsArray()
  @IsString({ each: true })
  netSoftnetBlock?: string[];

  @ApiPropertyOptional({ description: 'Run with `--suspendable`, so power-state changes suspend instead of stopping.' })
  @IsOptional()
  @IsBoolean()
  suspendable?: boolean;

  @ApiPropertyOptional({
    description:
      'Enable audio pass-through to the worker (without it, `tart run --no-audio`). Disabled by default. Fixed at ' +
      'creation: updates ignore it. Not supported by runtime `vetu`.',
  })
  @IsOptional()
  @IsBoolean()
  audio?: boolean;

  @ApiPropertyOptional({
    description:
      'Enable clipboard sharing with the worker (without it, `tart run --no-clipboard`). Disabled by default. Fixed ' +
      'at creation: updates ignore it. Not supported by runtime `vetu`.',
  })
  @IsOptional()
  @IsBoolean()
  clipboard?: boolean;

  @ApiPropertyOptional({
    description:
      'Deprecated: the opt-out an intermediate Orchard version used instead of `audio` (`true` = audio off, `false` ' +
      '= audio on); `audio` wins when both are given. Not stored or served.',
    deprecated: true,
  })
  @IsOptional()
  @IsBoolean()
  noAudio?: boolean;

  @ApiPropertyOptional({
    description:
      'Deprecated: the opt-out an intermediate Orchard version used instead of `clipboard` (`true` = clipboard off, ' +
      '`false` = clipboard on); `clipboard` wins when both are given. Not stored or served.',
    deprecated: true,
  })
  @IsOptional()
  @IsBoolean()
  noClipboard?: boolean;

  @ApiPropertyOptional({
    description:
      "Tart's emulated USB keyboard and pointing devices: `false` runs the VM with `tart run --no-usb-accessories`; " +
      "absent or `true` keeps Tart's default. May be updated (the VM restarts), except on a suspendable VM; an " +
      'update that leaves it out keeps it. Not supported by runtime `vetu`.',
  })
  @IsOptional()
  @IsBoolean()
  usbAccessories?: boolean;

  @ApiPropertyOptional({
    description:
      'Worker ports forwarded into the VM through Softnet, `EXTERNAL:INTERNAL` each (ports 1–65535, each external ' +
      'port once; `tart run --net-softnet-expose`); implies Softnet. Needs a worker with capability ' +
      '`vm-exposed-ports`. Cannot change once the VM is scheduled; an update that leaves it out keeps it. Not ' +
      'supported by runtime `vetu`.',
    type: [String],
    example: ['2222:22', '8080:80'],
  })
  @IsOptional()
  @IsArray()
  @IsString({ each: true })
  netSoftnetExpose?: string[];

  @ApiPropertyOptional({
    description:
      'VM services exposed on ports of its worker: the worker listens on a port of its own (from `workerPortRange`, ' +
      'or one the OS picks) and relays TCP connections or UDP datagrams to `target.vm.port`; `observedEndpoints` ' +
      'says which worker port each got. Names are unique. Needs a worker with capability `vm-endpoints`. May be ' +
      'updated at any time (an update that leaves the field out keeps it, `[]` removes them all); the worker ' +
      'replaces the VM’s listeners. Grove workers listen on the address of `grove worker run --endpoint-address` ' +
      '(default 127.0.0.1).',
    type: [VmEndpointDto],
    example: [
      { name: 'ssh', protocol: 'tcp', target: { vm: { port: 22 } }, workerPortRange: { min: 2222, max: 2222 } },
    ],
  })
  @IsOptional()
  @IsArray()
  @ValidateNested({ each: true })
  @Type(() => VmEndpointDto)
  endpoints?: VmEndpointDto[] | null;

  @ApiPropertyOptional({
    description: HOST_PROCESSES_DESCRIPTION,
    type: [HostProcessDto],
    example: [{ name: 'echo', program: '/usr/local/bin/echo-server', args: ['--listen', '${ORCHARD_PROCESS_SOCKET}'] }],
  })
  @IsOptional()
  @IsArray({ message: 'hostProcesses must be an array' })
  @ValidateNested({ each: true, message: 'each host process must be an object {name, program, args, env}' })
  @Type(() => HostProcessDto)
  hostProcesses?: HostProcessDto[] | null;

  @ApiPropertyOptional({ description: 'Desired power state; `stopped` and `suspended` are final.', enum: POWER_STATES })
  @IsOptional()
  @oneOf(POWER_STATES, 'powerState')
  powerState?: string;

  @ApiPropertyOptional({ description: 'SSH user for startup scripts, ssh and exec; default `admin`.' })
  @IsOptional()
  @IsString()
  username?: string;

  @ApiPropertyOptional({ description: 'SSH password; default `admin`.' })
  @IsOptional()
  @IsString()
  password?: string;

  @ApiPropertyOptional({
    description: 'Script to run after boot; its output becomes `log_line` events.',
    type: StartupScriptDto,
  })
  @IsOptional()
  @ValidateNested()
  @Type(() => StartupScriptDto)
  startup_script?: StartupScriptDto | null;

  @ApiPropertyOptional({ description: '`Never` (default) or `OnFailure`.', enum: RESTART_POLICIES })
  @IsOptional()
  @oneOf(RESTART_POLICIES, 'restart_policy')
  restart_policy?: string;

  @ApiPropertyOptional({ description: 'Give the VM a random serial number (`tart set --random-serial`).' })
  @IsOptional()
  @IsBoolean()
  randomSerial?: boolean;

  @ApiPropertyOptional({
    description: 'Resources the VM consumes on its worker, e.g. `{"org.cirruslabs.tart-vms": 1}`.',
  })
  @IsOptional()
  @IsResourceMap()
  resources?: Record<string, number> | null;

  @ApiPropertyOptional({ description: 'Labels the worker must carry.' })
  @IsOptional()
  @IsLabelMap()
  labels?: Record<string, string> | null;

  @ApiPropertyOptional({ description: 'Host directories to share into the VM.', type: [HostDirDto] })
  @IsOptional()
  @IsArray()
  @ValidateNested({ each: true })
  @Type(() => HostDirDto)
  hostDirs?: HostDirDto[] | null;

  // Fields below are set by Grove. They are accepted so that whole VM documents can be sent back; only the state
  // endpoint uses status, status_message, image_fqn, observedGeneration and conditions.

  @ApiPropertyOptional({ description: 'Status (state endpoint only).', enum: VM_STATUSES })
  @IsOptional()
  @oneOf(VM_STATUSES, 'status')
  status?: string;

  @ApiPropertyOptional({ description: 'Human-readable status detail (state endpoint only).' })
  @IsOptional()
  @IsString()
  status_message?: string;

  @ApiPropertyOptional({ description: 'Fully qualified image reference the worker resolved (state endpoint only).' })
  @IsOptional()
  @IsString()
  image_fqn?: string;

  @ApiPropertyOptional({ description: 'Generation the worker has applied (state endpoint only).' })
  @IsOptional()
  @IsInt()
  @Min(0)
  observedGeneration?: number;

  @ApiPropertyOptional({
    description: 'Conditions reported by the worker (state endpoint only).',
    type: [VmConditionDto],
  })
  @IsOptional()
  @IsArray()
  @ValidateNested({ each: true })
  @Type(() => VmConditionDto)
  conditions?: VmConditionDto[] | null;

  @ApiPropertyOptional({
    description:
      'Read-only: the worker’s listeners for `endpoints` (state endpoint only; `[]` clears them). The scheduler ' +
      'clears them whenever it changes the VM’s state, and marks them `error` when the VM’s worker lacks ' +
      'capability `vm-endpoints`.',
    type: [VmObservedEndpointDto],
  })
  @IsOptional()
  @IsArray()
  @ValidateNested({ each: true })
  @Type(() => VmObservedEndpointDto)
  observedEndpoints?: VmObservedEndpointDto[] | null;

  @ApiPropertyOptional({ description: 'Read-only.' }) @IsOptional() @IsString() createdAt?: string;
  @ApiPropertyOptional({ description: 'Read-only.' }) @IsOptional() @IsInt() version?: number;
  @ApiPropertyOptional({ description: 'Read-only.' }) @IsOptional() @IsString() uid?: string;
  @ApiPropertyOptional({ description: 'Read-only.' }) @IsOptional() @IsString() localName?: string;
  @ApiPropertyOptional({ description: 'Read-only.' }) @IsOptional() @IsString() tartName?: string;
  @ApiPropertyOptional({ description: 'Read-only.' }) @IsOptional() @IsString() worker?: string;
  @ApiPropertyOptional({ description: 'Read-only.' }) @IsOptional() @IsInt() assignedCPU?: number;
  @ApiPropertyOptional({ description: 'Read-only.' }) @IsOptional() @IsInt() assignedMemory?: number;
  @ApiPropertyOptional({ description: 'Read-only.' }) @IsOptional() @IsString() restarted_at?: string;
  @ApiPropertyOptional({ description: 'Read-only.' }) @IsOptional() @IsInt() restart_count?: number;
  @ApiPropertyOptional({ description: 'Read-only.' }) @IsOptional() @IsString() scheduled_at?: string;
  @ApiPropertyOptional({ description: 'Read-only.' }) @IsOptional() @IsString() started_at?: string;
  @ApiPropertyOptional({ description: 'Read-only.' }) @IsOptional() @IsInt() generation?: number;
}

export class VmCreateDto extends VmDto {
  @ApiProperty({ description: 'Unique VM name, `[A-Za-z0-9:-_.]`.' })
  @IsString()
  @IsNotEmpty({ message: 'name must not be empty' })
  @Matches(/^[A-Za-z0-9:\-_.]*$/, { message: 'name contains restricted characters, please only use [A-Za-z0-9:-_.]' })
  declare name: string;

  @ApiProperty({ description: 'OCI image reference, or the local name of a stopped/suspended VM on the same worker.' })
  @IsString()
  @IsNotEmpty({ message: 'image must not be empty' })
  declare image: string;
}

export class VmEventDto {
  @ApiProperty({
    description: 'Event kind: `log_line`, or `audit` (written by the controller only, for tunnel sessions).',
    enum: EVENT_KINDS,
  })
  @IsIn(WRITABLE_EVENT_KINDS, { message: `kind must be one of: ${WRITABLE_EVENT_KINDS.join(', ')}` })
  kind!: EventKind;

  @ApiProperty({ description: 'Unix time in seconds.' })
  @IsInt()
  @Min(0)
  timestamp!: number;

  @ApiProperty({ description: 'The event text, e.g. one line of startup-script output.' })
  @IsString()
  payload!: string;
}

export class VmEventListQueryDto {
  @ApiPropertyOptional({ description: 'Page size (positive integer); without it every event is returned.' })
  @IsOptional()
  @Matches(/^[1-9]\d{0,5}$/, { message: 'limit must be a positive integer' })
  limit?: string;

  @ApiPropertyOptional({ description: '`asc` (default, oldest first) or `desc`.' })
  @IsOptional()
  @Matches(/^(asc|desc)$/i, { message: 'order must be asc or desc' })
  order?: string;

  @ApiPropertyOptional({ description: 'Opaque cursor from the `X-Next-Cursor` header of the previous page.' })
  @IsOptional()
  @IsString()
  cursor?: string;
}

export class VmListQueryDto {
  @ApiPropertyOptional({ description: 'Comma-separated `path=value` filters; only `worker=<name>` matches anything.' })
  @IsOptional()
  @IsString()
  filter?: string;

  @ApiPropertyOptional({
    description: 'Page size (positive integer), a Grove extension; without it every VM is returned, as by Orchard.',
  })
  @IsOptional()
  @Matches(/^[1-9]\d{0,5}$/, { message: 'limit must be a positive integer' })
  limit?: string;

  @ApiPropertyOptional({ description: 'Opaque cursor from the `X-Next-Cursor` header of the previous page.' })
  @IsOptional()
  @IsString()
  cursor?: string;

  @ApiPropertyOptional({
    description:
      '`true` streams the whole fleet as NDJSON: `{"type":"ADDED","object":{…}}` per VM, then a line per change ' +
      '(ADDED, MODIFIED, DELETED); not combined with `filter`, `limit` or `cursor`.',
  })
  @IsOptional()
  @IsString()
  watch?: string;
}

export class VmGetQueryDto {
  @ApiPropertyOptional({
    description: '`true` streams changes of the VM as NDJSON (`{"type":"ADDED|MODIFIED|DELETED","object":{…}}`).',
  })
  @IsOptional()
  @IsString()
  watch?: string;
}
