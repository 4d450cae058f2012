import { decodeBootstrapToken, encodeBootstrapToken } from './bootstrap-token';

describe('bootstrap tokens', () => {
  const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

  it('round-trips with and without a certificate, whatever characters the secrets hold', () => {
    const full = { serviceAccountName: 'workers', serviceAccountToken: 'a.b/c+d=e', certificatePem: pem };
    const text = encodeBootstrapToken(full);
    expect(text).toMatch(/^grove-bootstrap-token-v0\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    expect(decodeBootstrapToken(text)).toEqual(full);
    const bare = { serviceAccountName: 'w', serviceAccountToken: 't' };
    expect(decodeBootstrapToken(`  ${encodeBootstrapToken(bare)}\n`)).toEqual(bare);
  });

  it.each([
    ['orchard-bootstrap-token-v0.d2.dA', /expected "grove-bootstrap-token-v0/],
    ['grove-bootstrap-token-v0.d2', /expected/],
    ['grove-bootstrap-token-v0.d2.dA.x.y', /expected/],
    ['grove-bootstrap-token-v0.d!2.dA', /name is not base64url/],
    ['grove-bootstrap-token-v0.d2.dA.bm90IGEgY2VydA', /not a PEM certificate/],
  ])('rejects %s', (text, message) => {
    expect(() => decodeBootstrapToken(text)).toThrow(message);
  });
});
