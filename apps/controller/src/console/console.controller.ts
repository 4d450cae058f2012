import { Controller, Get, Inject, Req, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Public } from '../common/auth/roles.decorator';
import { CONTROLLER_CONFIG, type ControllerConfig } from '../infra/config/controller-config';
import {
  cacheControlOf,
  consoleContentSecurityPolicy,
  contentTypeOf,
  defaultConsoleDir,
  findConsoleFile,
} from './console-files';

const NOT_BUILT =
  'The web console is not built. Build it with `npm run build` (or `node apps/console/build.mjs`) and restart the ' +
  'controller, or point --console-dir / GROVE_CONSOLE_DIR at a directory holding its index.html.\n';
const NOT_FOUND = 'No such file in the web console.\n';

/**
 * The web console (issue 16, docs/console.md): static files of `apps/console/dist` under `/ui/`, and `/` leads there.
 * Public, since the page itself asks for the service account's credentials; it is only files, every API call it
 * makes is authenticated. Outside the OpenAPI document: not part of the API.
 */
@ApiExcludeController()
@Public()
@Controller()
export class ConsoleController {
  private readonly root: string;

  constructor(@Inject(CONTROLLER_CONFIG) config: ControllerConfig) {
    this.root = config.consoleDir ?? defaultConsoleDir();
  }

  @Get()
  home(@Res() reply: FastifyReply): void {
    void reply.redirect('/ui/', 302);
  }

  @Get('ui')
  async index(@Req() req: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    // `/ui` without its slash would resolve the page's relative asset URLs against `/`.
    if (!req.url.split('?')[0].endsWith('/')) {
      await reply.redirect('/ui/', 302);
      return;
    }
    await this.send(req, reply, '');
  }

  @Get('ui/*')
  async file(@Req() req: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const path = req.url.split('?')[0].slice('/ui/'.length);
    await this.send(req, reply, path);
  }

  private async send(req: FastifyRequest, reply: FastifyReply, relative: string): Promise<void> {
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'no-referrer');
    const file = await findConsoleFile(this.root, relative);
    if (!file) {
      const built = relative !== '' && (await findConsoleFile(this.root, '')) !== undefined;
      await reply
        .code(404)
        .type('text/plain; charset=utf-8')
        .send(relative === '' || !built ? NOT_BUILT : NOT_FOUND);
      return;
    }
    reply.header('content-type', contentTypeOf(file.path));
    reply.header('cache-control', cacheControlOf(file.path));
    reply.header('etag', file.etag);
    reply.header('last-modified', file.lastModified.toUTCString());
    if (file.path.endsWith('.html')) {
      reply.header('content-security-policy', consoleContentSecurityPolicy(req.headers.host));
      reply.header('x-frame-options', 'DENY');
    }
    if (req.headers['if-none-match'] === file.etag) {
      await reply.code(304).send();
      return;
    }
    reply.header('content-length', file.size);
    // HEAD too: Fastify's HEAD route of this GET route sends the headers and drops the body.
    await reply.send(file.open());
  }
}
