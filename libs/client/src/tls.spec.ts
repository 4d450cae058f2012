import { X509Certificate } from 'node:crypto';
import { ControllerConnectionError } from './client.errors';
import { GroveClient } from './grove-client';
import { fetchPeerCertificate } from './peer-certificate';
import {
  generateCertificate,
  sendJson,
  startTestServer,
  type TestCertificate,
  type TestServer,
} from './test-support/test-server';

describe('TLS with a pinned controller certificate', () => {
  let controllerCert: TestCertificate;
  let otherCert: TestCertificate;
  let server: TestServer;

  beforeAll(async () => {
    controllerCert = generateCertificate('/CN=Grove Controller');
    otherCert = generateCertificate('/CN=Impostor');
    server = await startTestServer(
      (_req, res) => sendJson(res, 200, { version: '1.2.3', capabilities: [] }),
      controllerCert,
    );
  });

  afterAll(async () => {
    await server.close();
  });

  it('connects when pinned, although the URL host (127.0.0.1) is not the certificate name', async () => {
    const client = new GroveClient({
      url: server.url,
      certificatePem: controllerCert.cert,
      serviceAccountName: 'a',
      serviceAccountToken: 'b',
    });
    await expect(client.controllerInfo()).resolves.toEqual({ version: '1.2.3', capabilities: [] });
    client.close();
  });

  it('refuses the self-signed certificate without a pin, saying so', async () => {
    const client = new GroveClient({ url: server.url });

    const err = (await client.info().catch((e: unknown) => e)) as ControllerConnectionError;

    expect(err).toBeInstanceOf(ControllerConnectionError);
    expect(err.kind).toBe('certificate');
    expect(err.message).toContain(
      `the controller at ${server.url} presented a certificate that this system does not trust`,
    );
    client.close();
  });

  it('refuses a server whose certificate differs from the pinned one', async () => {
    const client = new GroveClient({ url: server.url, certificatePem: otherCert.cert });

    const err = (await client.info().catch((e: unknown) => e)) as ControllerConnectionError;

    expect(err.kind).toBe('certificate');
    expect(err.message).toContain(
      `the controller at ${server.url} presented a certificate that does not match the pinned certificate`,
    );
    expect(server.requests.every((r) => r.url !== '/v1/' || r.headers.authorization === undefined)).toBe(true);
    client.close();
  });

  it('reads the presented certificate for fingerprint confirmation', async () => {
    const peer = await fetchPeerCertificate(server.url);

    const expected = new X509Certificate(controllerCert.cert);
    expect(peer.der.equals(expected.raw)).toBe(true);
    expect(new X509Certificate(peer.pem).fingerprint256).toBe(expected.fingerprint256);
  });

  it('says TLS is not spoken when an https URL points at a plain HTTP server', async () => {
    const plain = await startTestServer((_req, res) => sendJson(res, 200, {}));
    try {
      const client = new GroveClient({ url: plain.url.replace('http:', 'https:') });
      const err = (await client.info().catch((e: unknown) => e)) as ControllerConnectionError;
      expect(err.kind).toBe('protocol');
      expect(err.message).toContain('if it runs with --insecure-no-tls, use an http:// URL');
      client.close();
    } finally {
      await plain.close();
    }
  });
});
