import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/**
 * Longest path parameter the router accepts. Fastify's default (100) answered 414 for a longer name that the API
 * itself accepts (names have no length limit, as in Orchard); the request line is bounded by Node's header limit.
 */
export const MAX_PATH_PARAM_LENGTH = 16 * 1024;

type ParserDone = (err: Error | null, body?: unknown) => void;

/** An error the exception filter answers with its status and `{message}` (it has a Fastify error code). */
function clientError(statusCode: number, code: string, message: string): Error {
  return Object.assign(new Error(message), { statusCode, code });
}

/**
 * Request bodies (issue 12, items 1 and 2), the same on every route:
 * - a body without `Content-Type` is JSON: Orchard's Go client sends none, and Orchard reads every body as JSON;
 * - an empty body is no body (`undefined`), whatever `Content-Type` says and whatever the method (many clients label
 *   every request `application/json`, a DELETE included);
 * - `application/json` (any parameters) is parsed with Fastify's own parser (prototype-poisoning checks included);
 * - any other explicit type is `415 {message}`, `text/plain` included (Fastify would hand the route a string).
 *   `application/x-www-form-urlencoded` keeps Nest's form parser: the exec route reads such a body as JSON
 *   (`curl -d`), see ExecModule.
 * Called before the server starts; the routes share the root instance's parsers.
 */
export function installJsonBodyParsing(fastify: FastifyInstance): void {
  const json = fastify.getDefaultJsonParser('error', 'error');
  const parseJson = (request: FastifyRequest, body: Buffer, done: ParserDone) => {
    if (body.length === 0) {
      done(null, undefined);
      return;
    }
    // Fastify's parser takes the buffer too (it decodes it itself); its type only names strings.
    void json(request, body as unknown as string, done);
  };
  // A body nothing read to its end (a method without routes, such as QUERY without Content-Type, answered from its head;
  // a body still arriving after the answer) is drained once the answer is out: left on a keep-alive connection, its
  // bytes would be parsed as the next request (issue 12). Node's server drains bodies nobody touched by itself; this
  // also covers one a reader paused or gave up on midway.
  fastify.addHook('onResponse', (request: FastifyRequest, _reply: FastifyReply, done: () => void) => {
    if (!request.raw.complete && !request.raw.destroyed) {
      request.raw.resume();
    }
    done();
  });
  const options = { parseAs: 'buffer' as const, bodyLimit: fastify.initialConfig.bodyLimit };
  fastify.removeContentTypeParser(['application/json', 'text/plain']);
  fastify.addContentTypeParser('application/json', options, parseJson);
  fastify.addContentTypeParser('*', options, (request: FastifyRequest, body: Buffer, done: ParserDone) => {
    const type = request.headers['content-type'];
    if (type === undefined) {
      parseJson(request, body, done);
      return;
    }
    done(
      clientError(
        415,
        'FST_ERR_CTP_INVALID_MEDIA_TYPE',
        `unsupported Content-Type ${JSON.stringify(type)}: send JSON, as application/json or without a Content-Type`,
      ),
    );
  });
}

/**
 * Fastify's `frameworkErrors`: errors its router raises before any route runs (a percent-encoding that is not UTF-8,
 * a path parameter over the length limit) get the API's error shape `{message}` instead of Fastify's own.
 */
export function answerFrameworkError(error: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  void reply
    .code(error.statusCode ?? 400)
    .header('content-type', 'application/json; charset=utf-8')
    .send({ message: error.message });
}
