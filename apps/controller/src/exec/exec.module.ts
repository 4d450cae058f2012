import { Module, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { TunnelModule } from '../tunnels/tunnel.module';
import { VmModule } from '../vms/vm.module';
import { WorkerSessionModule } from '../worker-sessions/worker-session.module';
import { ExecController } from './exec.controller';
import { ExecService } from './exec.service';

const EXEC_ROUTE = '/v1/vms/:name/exec';

@Module({
  imports: [VmModule, TunnelModule, WorkerSessionModule],
  controllers: [ExecController],
  providers: [ExecService],
  exports: [ExecService],
})
export class ExecModule implements OnModuleInit {
  constructor(private readonly adapterHost: HttpAdapterHost) {}

  /**
   * `curl -d '{…}'` labels its body `application/x-www-form-urlencoded`; the exec POST is meant to be usable from
   * curl without a Content-Type header, so on that route such a body is read as the JSON it is (a form body would
   * never be valid there). Other routes are untouched.
   */
  onModuleInit(): void {
    const fastify = this.adapterHost.httpAdapter?.getInstance<FastifyInstance>();
    fastify?.addHook('onRequest', (request: FastifyRequest, _reply, done) => {
      if (
        request.method === 'POST' &&
        request.routeOptions.url === EXEC_ROUTE &&
        /^application\/x-www-form-urlencoded\s*(;|$)/i.test(request.headers['content-type'] ?? '')
      ) {
        request.headers['content-type'] = 'application/json';
      }
      done();
    });
  }
}
