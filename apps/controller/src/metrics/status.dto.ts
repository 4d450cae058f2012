import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  SESSION_KINDS,
  type ClusterStatus,
  type PendingStatus,
  type PendingVmStatus,
  type SessionKind,
  type SessionStatus,
  type VmStatusCounts,
  type WorkerState,
  type WorkerStatus,
} from '@grove/resources';

/* The answer of `GET /v1/status` (a Grove extension, issue 14), as the OpenAPI document describes it. */

export class WorkerStatusDto implements WorkerStatus {
  @ApiProperty({ description: 'Worker name.' })
  name!: string;

  @ApiProperty({
    description:
      '`online`; `paused` (online, no new VMs are scheduled on it); `offline` (unseen past the offline timeout and ' +
      'without a session).',
    enum: ['online', 'offline', 'paused'],
  })
  state!: WorkerState;

  @ApiProperty({
    description: 'Its gRPC session: `up` on a live replica, `lost` (the replica holding it is gone), `none`.',
    enum: ['up', 'lost', 'none'],
  })
  session!: 'up' | 'lost' | 'none';

  @ApiPropertyOptional({ description: 'The replica holding, or last holding, its session.' })
  sessionReplica?: string;

  @ApiProperty({ description: 'Last heartbeat (RFC 3339).' })
  lastSeen!: string;

  @ApiProperty({ description: 'VMs placed on it.' })
  vms!: number;

  @ApiProperty({
    description:
      'By resource name (those it registered and those its VMs take): `used`, what its placed VMs take, and ' +
      '`total`, what it registered.',
    type: 'object',
    additionalProperties: {
      type: 'object',
      properties: {
        used: { type: 'number', description: 'Taken by the VMs placed on the worker.' },
        total: { type: 'number', description: 'What the worker registered.' },
      },
    },
  })
  resources!: Record<string, { used: number; total: number }>;
}

export class VmStatusCountsDto implements VmStatusCounts {
  @ApiProperty({ description: 'Pending VMs.' })
  pending!: number;

  @ApiProperty({ description: 'Running VMs.' })
  running!: number;

  @ApiProperty({ description: 'Failed VMs.' })
  failed!: number;

  @ApiProperty({ description: 'Every VM.' })
  total!: number;
}

export class PendingReasonDto {
  @ApiProperty({ description: "The VMs' status message: why the scheduler could not place them." })
  reason!: string;

  @ApiProperty({ description: 'How many VMs wait for this reason.' })
  count!: number;
}

export class PendingVmStatusDto implements PendingVmStatus {
  @ApiProperty({ description: 'VM name.' })
  name!: string;

  @ApiProperty({ description: 'When it was created (RFC 3339).' })
  createdAt!: string;

  @ApiPropertyOptional({ description: 'The worker it is placed on (waiting to be run there); absent when not placed.' })
  worker?: string;

  @ApiProperty({ description: 'Why it waits, as the scheduler or its worker said.' })
  status_message!: string;
}

export class PendingStatusDto implements PendingStatus {
  @ApiProperty({ description: 'Pending VMs: waiting for a worker, or placed and waiting for it to run them.' })
  count!: number;

  @ApiProperty({ description: 'Of those, the VMs placed on a worker that has not reported them running yet.' })
  starting!: number;

  @ApiProperty({ description: 'Why the VMs not placed wait, most common reason first.', type: [PendingReasonDto] })
  reasons!: PendingReasonDto[];

  @ApiProperty({ description: 'The oldest pending VMs, at most 20.', type: [PendingVmStatusDto] })
  oldest!: PendingVmStatusDto[];
}

export class ActiveSessionsDto implements Record<SessionKind, number> {
  @ApiProperty({ description: 'Port-forwards to ports other than 22 and 5900 (WebSocket or through the SSH gateway).' })
  'port-forward'!: number;

  @ApiProperty({ description: 'Commands run through the exec endpoints.' })
  exec!: number;

  @ApiProperty({ description: 'SSH gateway sessions, and port-forwards to port 22.' })
  ssh!: number;

  @ApiProperty({ description: 'Port-forwards to port 5900 (screen sharing).' })
  vnc!: number;
}

export class SessionStatusDto implements SessionStatus {
  @ApiProperty({ description: 'The replica whose sessions these are: each replica counts those its clients opened.' })
  replica!: string;

  @ApiProperty({ description: `Sessions in progress by kind (${SESSION_KINDS.join(', ')}).`, type: ActiveSessionsDto })
  active!: ActiveSessionsDto;
}

export class ClusterStatusDto implements ClusterStatus {
  @ApiProperty({ description: 'The controller replica that answered.' })
  replica!: string;

  @ApiProperty({ description: 'Every worker, by name.', type: [WorkerStatusDto] })
  workers!: WorkerStatusDto[];

  @ApiProperty({ description: 'VMs by status.', type: VmStatusCountsDto })
  vms!: VmStatusCountsDto;

  @ApiProperty({ description: 'The pending VMs and why they wait.', type: PendingStatusDto })
  pending!: PendingStatusDto;

  @ApiProperty({ description: 'Sessions in progress on the replica that answered.', type: SessionStatusDto })
  sessions!: SessionStatusDto;
}
