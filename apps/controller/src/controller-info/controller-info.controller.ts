import { Controller, Get, Inject } from '@nestjs/common';
import { CONTROLLER_CONFIG, type ControllerConfig } from '../infra/config/controller-config';
import { ApiBasicAuth, ApiOkResponse, ApiOperation, ApiProperty, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { WorkerGrpcServer } from '../worker-sessions/worker-grpc.server';
import { Public } from '../common/auth/roles.decorator';
import { DomainError, DomainErrorCode } from '../common/domain-error';
import { DrainState } from '../common/drain-state';
import { GROVE_VERSION } from '../version';

export class ControllerInfoDto {
  @ApiProperty({ description: 'Grove version.' })
  version!: string;

  @ApiProperty({ description: 'Source revision the controller was built from, when known.' })
  commit!: string;

  @ApiProperty({
    description: 'Features this controller offers, for clients and workers to negotiate.',
    type: [String],
  })
  capabilities!: string[];

  @ApiProperty({ description: 'Name of the controller replica that answered (several may share one database).' })
  replica!: string;

  @ApiPropertyOptional({
    description: "Port of the worker-session gRPC listener on this controller's host (absent when it is off).",
  })
  grpcPort?: number;
}

export class ApiRootDto {
  @ApiProperty({ description: 'A pointer to the API description.' })
  message!: string;
}

/** Capabilities that Orchard clients and Grove workers look for. */
export const CAPABILITIES = ['vm-state-endpoint'];

@ApiTags('controller')
@Controller('v1')
export class ControllerInfoController {
  constructor(
    private readonly grpc: WorkerGrpcServer,
    @Inject(CONTROLLER_CONFIG) private readonly config: ControllerConfig,
    private readonly drain: DrainState,
  ) {}

  @Get()
  @Public()
  @ApiOperation({
    summary:
      'Liveness of the API; needs no credentials. 503 while the controller drains before it stops, so that load ' +
      'balancers checking it send new clients elsewhere.',
  })
  @ApiOkResponse({ type: ApiRootDto })
  root(): ApiRootDto {
    if (this.drain.draining) {
      throw new DomainError(DomainErrorCode.Unavailable, 'the controller is shutting down');
    }
    return { message: 'Grove controller API v1; the OpenAPI description is at /v1/openapi.json' };
  }

  @Get('controller/info')
  @ApiBasicAuth()
  @ApiOperation({ summary: 'Version and capabilities; any valid service account may read it.' })
  @ApiOkResponse({ type: ControllerInfoDto })
  info(): ControllerInfoDto {
    const info: ControllerInfoDto = {
      version: GROVE_VERSION,
      commit: this.config.commit,
      capabilities: CAPABILITIES,
      replica: this.config.replicaName,
    };
    if (this.grpc.port !== undefined) {
      info.grpcPort = this.config.advertiseGrpcPort ?? this.grpc.port;
    }
    return info;
  }
}
