import { Controller, Get, Res } from '@nestjs/common';
import { ApiBasicAuth, ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { PublicWhen, RequireRoles } from '../common/auth/roles.decorator';
import { MetricsRegistry } from './metrics-registry';

/** `GET /metrics` beside the API (not under /v1: it is Prometheus's format, not part of Orchard's API). */
@ApiTags('metrics')
@ApiBasicAuth()
@Controller()
export class MetricsController {
  constructor(private readonly metrics: MetricsRegistry) {}

  @Get('metrics')
  @RequireRoles('admin:read')
  @PublicWhen((config) => config.metricsPublic)
  @ApiOperation({
    summary:
      'Grove extension (not in Orchard): Prometheus metrics of this controller in the text exposition format — the ' +
      'fleet, scheduling, sessions, HTTP requests, the database pool and the process (docs/observability.md). Needs ' +
      '`admin:read` (HTTP Basic, as Prometheus `basic_auth` sends it), or no credentials with `--metrics-public`.',
  })
  @ApiProduces('text/plain')
  @ApiOkResponse({ description: 'Prometheus text format 0.0.4.', schema: { type: 'string' } })
  async scrape(@Res({ passthrough: true }) reply: FastifyReply): Promise<string> {
    const text = await this.metrics.render();
    void reply.header('content-type', this.metrics.contentType);
    return text;
  }
}
