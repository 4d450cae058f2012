import { connect, type AddressInfo, type Socket } from 'node:net';
import { waitFor } from '@grove/testing';
import { ADMIN, TestController } from '../test-support/test-controller';

interface Answer {
  status: number;
  body: string;
}

/** The complete HTTP/1.1 responses at the start of `text` (each framed by Content-Length, as the API answers). */
function responses(text: string): Answer[] {
  const out: Answer[] = [];
  let rest = text;
  for (;;) {
    const headEnd = rest.indexOf('\r\n\r\n');
    if (headEnd < 0) {
      return out;
    }
    const head = rest.slice(0, headEnd);
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
    if (rest.length < headEnd + 4 + length) {
      return out;
    }
    out.push({
      status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]),
      body: rest.slice(headEnd + 4, headEnd + 4 + length),
    });
    rest = rest.slice(headEnd + 4 + length);
  }
}

/**
 * Issue 12 (leftover b): a request body the controller does not read — a method it has no route for, an answer given
 * before the body arrived, a body without `Content-Type` — must still be taken off a keep-alive connection, or its
 * bytes would be read as the start of the next request on it.
 */
describe('request bodies on keep-alive connections', () => {
  let ctl: TestController;
  let port: number;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    ctl = await TestController.start();
    await ctl.app.listen({ host: '127.0.0.1', port: 0 });
    port = (ctl.app.getHttpServer().address() as AddressInfo).port;
  });
  afterAll(async () => {
    sockets.forEach((s) => s.destroy());
    await ctl.close();
  });

  /** A raw connection: what was received so far, and how to send more. */
  function open(): { send: (bytes: string) => void; text: () => string } {
    const socket = connect(port, '127.0.0.1');
    sockets.push(socket);
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (text += chunk));
    return { send: (bytes) => socket.write(bytes, 'latin1'), text: () => text };
  }

  const body = JSON.stringify({ name: 'kept-alive', image: 'img', labels: { filler: 'x'.repeat(64 * 1024) } });
  const head = (method: string, path: string, framing: 'length' | 'chunked') =>
    `${method} ${path} HTTP/1.1\r\nHost: grove\r\nAuthorization: ${ADMIN}\r\n` +
    (framing === 'length' ? `Content-Length: ${body.length}\r\n\r\n` : 'Transfer-Encoding: chunked\r\n\r\n');
  const framed = (framing: 'length' | 'chunked') =>
    framing === 'length' ? body : `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`;
  const next = `GET /v1/vms/next-request HTTP/1.1\r\nHost: grove\r\nAuthorization: ${ADMIN}\r\n\r\n`;
  const nextAnswer: Answer = { status: 404, body: JSON.stringify({ message: 'VM "next-request" not found' }) };

  it.each([
    ['QUERY', '/v1/vms', 400],
    ['SEARCH', '/v1/vms', 404],
    ['PATCH', '/v1/vms/a', 404],
    ['OPTIONS', '/v1/vms', 404],
    ['DELETE', '/v1/vms/not-there', 404],
    ['PUT', '/v1/vms/not-there', 404],
    ['POST', '/v1/vms/a/b/c', 404],
    ['GET', '/v1/vms/not-there', 404],
  ] as const)('%s %s without Content-Type, then another request on the connection', async (method, path, status) => {
    for (const framing of ['length', 'chunked'] as const) {
      const connection = open();
      connection.send(head(method, path, framing) + framed(framing) + next);
      const answers = await waitFor(`two answers (${framing})`, () => {
        const got = responses(connection.text());
        return got.length >= 2 && got;
      });
      expect(answers.map((a) => a.status)).toEqual([status, nextAnswer.status]);
      expect(answers[1]).toEqual(nextAnswer);
    }
  });

  it.each(['QUERY', 'GET'])('takes the body a %s was answered without off the connection', async (method) => {
    for (const framing of ['length', 'chunked'] as const) {
      const connection = open();
      connection.send(head(method, '/v1/vms/not-there', framing));
      // Answered from the head alone (a QUERY without Content-Type is refused; a GET has no body to wait for).
      await waitFor('the first answer', () => responses(connection.text()).length === 1);
      connection.send(framed(framing) + next);
      const answers = await waitFor('the second answer', () => {
        const got = responses(connection.text());
        return got.length >= 2 && got;
      });
      expect(answers).toHaveLength(2);
      expect(answers[1]).toEqual(nextAnswer);
    }
  });

  it('reads a body without Content-Type as JSON, then serves the next request', async () => {
    const connection = open();
    connection.send(head('POST', '/v1/vms', 'length') + framed('length') + next);
    const answers = await waitFor('two answers', () => {
      const got = responses(connection.text());
      return got.length >= 2 && got;
    });
    expect(answers[0].status).toBe(200);
    expect(JSON.parse(answers[0].body)).toMatchObject({ name: 'kept-alive', image: 'img' });
    expect(answers[1]).toEqual(nextAnswer);
  });
});
