import { Module, type OnModuleInit } from '@nestjs/common';
import { APP_PIPE, HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance } from 'fastify';
import { installJsonBodyParsing } from './request-input';
import { StorableTextPipe } from './storable-text.pipe';

/**
 * How requests are read, the same on every route (issue 12): JSON bodies with or without `Content-Type`, empty
 * bodies as none, and no text Postgres cannot store past the edge.
 */
@Module({
  providers: [{ provide: APP_PIPE, useClass: StorableTextPipe }],
})
export class RequestInputModule implements OnModuleInit {
  constructor(private readonly adapterHost: HttpAdapterHost) {}

  onModuleInit(): void {
    const fastify = this.adapterHost.httpAdapter?.getInstance<FastifyInstance>();
    if (fastify) {
      installJsonBodyParsing(fastify);
    }
  }
}
