import { parseCredentialProtocol, selectProtocol } from './websocket-credentials';

describe('WebSocket credential subprotocol', () => {
  const encoded = Buffer.from('alice:s3cr:et').toString('base64url');

  it('reads name and token from the grove.basic entry of the header', () => {
    expect(parseCredentialProtocol(`grove.console, grove.basic.${encoded}`)).toEqual({
      name: 'alice',
      token: 's3cr:et',
    });
    expect(parseCredentialProtocol(['grove.console', `grove.basic.${encoded}`])).toEqual({
      name: 'alice',
      token: 's3cr:et',
    });
  });

  it('finds no credentials in a missing, malformed or colon-less entry', () => {
    expect(parseCredentialProtocol(undefined)).toBeUndefined();
    expect(parseCredentialProtocol('grove.console')).toBeUndefined();
    expect(parseCredentialProtocol('grove.basic.a+b=')).toBeUndefined();
    expect(parseCredentialProtocol(`grove.basic.${Buffer.from('nocolon').toString('base64url')}`)).toBeUndefined();
  });

  it('never selects a credential protocol', () => {
    const offered = new Set([`grove.basic.${encoded}`, 'grove.console']);
    expect(selectProtocol(offered, ['grove.console'])).toBe('grove.console');
    expect(selectProtocol(offered, [], true)).toBe('grove.console');
    expect(selectProtocol(new Set([`grove.basic.${encoded}`]), ['grove.console'], true)).toBe(false);
    expect(selectProtocol(new Set(['other', 'grove.console']), ['grove.console'], true)).toBe('grove.console');
    expect(selectProtocol(new Set(['other']), [], true)).toBe('other');
  });
});
