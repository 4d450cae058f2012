import { type DynamicModule, Global, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { DataSource } from 'typeorm';
import { ClusterModule } from './cluster/cluster.module';
import { ClusterSettingsModule } from './cluster-settings/cluster-settings.module';
import { AuthGuard } from './common/auth/auth.guard';
import { DrainState } from './common/drain-state';
import { LoginThrottle } from './common/auth/login-throttle';
import { RequestInputModule } from './common/request-input.module';
import { SchedulingTrigger } from './common/scheduling-trigger';
import { ConsoleModule } from './console/console.module';
import { ControllerInfoController } from './controller-info/controller-info.controller';
import { ExecModule } from './exec/exec.module';
import { MetricsModule } from './metrics/metrics.module';
import { CONTROLLER_CONFIG, type ControllerConfig } from './infra/config/controller-config';
import { DatabaseAvailability } from './infra/database/database-availability.service';
import { PreviewModule } from './previews/preview.module';
import { ServiceAccountModule } from './service-accounts/service-account.module';
import { VmModule } from './vms/vm.module';
import { WorkerModule } from './workers/worker.module';
import { SchedulerModule } from './scheduler/scheduler.module';
import { SshGatewayModule } from './ssh-gateway/ssh-gateway.module';
import { TelemetryModule } from './telemetry/telemetry.module';
import { TunnelModule } from './tunnels/tunnel.module';
import { GRPC_TLS, type GrpcTls } from './infra/tls/grpc-tls';
import { WorkerSessionModule } from './worker-sessions/worker-session.module';

/** Makes the configuration and the already-migrated DataSource injectable everywhere. */
@Global()
@Module({})
class InfraModule {
  static forRoot(config: ControllerConfig, dataSource: DataSource, tls: GrpcTls): DynamicModule {
    return {
      module: InfraModule,
      providers: [
        { provide: CONTROLLER_CONFIG, useValue: config },
        { provide: DataSource, useValue: dataSource },
        { provide: GRPC_TLS, useValue: tls },
        SchedulingTrigger,
        DatabaseAvailability,
        DrainState,
        { provide: LoginThrottle, useFactory: () => new LoginThrottle() },
      ],
      exports: [
        CONTROLLER_CONFIG,
        DataSource,
        GRPC_TLS,
        SchedulingTrigger,
        DatabaseAvailability,
        DrainState,
        LoginThrottle,
      ],
    };
  }
}

@Module({})
export class AppModule {
  static forRoot(config: ControllerConfig, dataSource: DataSource, tls?: GrpcTls): DynamicModule {
    return {
      module: AppModule,
      imports: [
        InfraModule.forRoot(config, dataSource, tls),
        RequestInputModule,
        MetricsModule,
        TelemetryModule,
        ClusterModule,
        ServiceAccountModule,
        ClusterSettingsModule,
        WorkerModule,
        VmModule,
        SchedulerModule,
        WorkerSessionModule,
        TunnelModule,
        ExecModule,
        SshGatewayModule,
        ConsoleModule,
        PreviewModule,
      ],
      controllers: [ControllerInfoController],
      providers: [{ provide: APP_GUARD, useClass: AuthGuard }],
    };
  }
}
