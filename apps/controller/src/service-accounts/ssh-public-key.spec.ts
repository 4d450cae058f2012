import { generateKeyPairSync } from 'node:crypto';
import { normalizeSshKeyFingerprint, sshKeyFingerprint } from '@grove/resources';
import { utils } from 'ssh2';
import { parsePublicKeyBlob, parsePublicKeyLine, type ParsedPublicKey } from './ssh-public-key';

/** A fixed ed25519 key and the fingerprint `ssh-keygen -lf` prints for it. */
const KNOWN_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGrRPEHhd1nkBLoe3OYUW2WDSBnKHvBzMRq+B0YSR6K2 me@host';
const KNOWN_FINGERPRINT = 'SHA256:NumYAOIXJWNZigk7AMymGBlKAqAES4YMbsC7Q+K4ETg';

function parsed(text: string): ParsedPublicKey {
  const result = parsePublicKeyLine(text);
  if (Array.isArray(result)) {
    throw new Error(`unexpected errors: ${JSON.stringify(result)}`);
  }
  return result;
}

describe('SSH public key lines', () => {
  it('parses an ed25519 key line: type, comment, wire blob and OpenSSH fingerprint', () => {
    const key = parsed(`  ${KNOWN_KEY}\n`);
    expect(key.type).toBe('ssh-ed25519');
    expect(key.comment).toBe('me@host');
    expect(key.blob.toString('base64')).toBe(KNOWN_KEY.split(' ')[1]);
    expect(key.fingerprint).toBe(KNOWN_FINGERPRINT);
    expect(key.fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });

  it('accepts RSA and ECDSA keys and keys without a comment', () => {
    const rsa = utils.generateKeyPairSync('rsa', { bits: 2048, comment: 'rsa@test' }).public;
    const ecdsa = utils.generateKeyPairSync('ecdsa', { bits: 256 }).public;
    expect(parsed(rsa).type).toBe('ssh-rsa');
    expect(parsed(ecdsa).type).toBe('ecdsa-sha2-nistp256');
    expect(parsed(KNOWN_KEY.split(' ').slice(0, 2).join(' ')).comment).toBe('');
  });

  it('refuses private keys, in OpenSSH and PEM form, saying the public one is wanted', () => {
    const openssh = utils.generateKeyPairSync('ed25519').private;
    const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      .privateKey.export({ type: 'sec1', format: 'pem' })
      .toString();
    for (const text of [openssh, pem]) {
      expect(parsePublicKeyLine(text)).toEqual([
        { field: 'publicKey', message: expect.stringContaining('is a private key: attach the public key') },
      ]);
    }
  });

  it('names the field for empty input, garbage, broken base64, several keys and obsolete DSA keys', () => {
    expect(parsePublicKeyLine('   ')).toEqual([{ field: 'publicKey', message: 'publicKey must not be empty' }]);
    expect(parsePublicKeyLine('hello world')).toEqual([
      { field: 'publicKey', message: expect.stringContaining('publicKey is not an OpenSSH public key') },
    ]);
    expect(parsePublicKeyLine('ssh-ed25519 AAAAxx comment')).toEqual([
      { field: 'publicKey', message: expect.stringContaining('not an OpenSSH public key') },
    ]);
    expect(parsePublicKeyLine(`${KNOWN_KEY}\n${KNOWN_KEY}`)).toEqual([
      { field: 'publicKey', message: expect.stringContaining('single key line') },
    ]);
    expect(parsePublicKeyLine('x'.repeat(9000), 'key')).toEqual([
      { field: 'key', message: 'key must be at most 8192 characters long' },
    ]);
    const dsa = `ssh-dss ${Buffer.concat(
      ['ssh-dss', 'p', 'q', 'g', 'y'].map((part) => {
        const data = Buffer.from(part);
        const length = Buffer.alloc(4);
        length.writeUInt32BE(data.length);
        return Buffer.concat([length, data]);
      }),
    ).toString('base64')}`;
    const result = parsePublicKeyLine(dsa);
    expect(Array.isArray(result) && result[0].field).toBe('publicKey');
  });

  it('parses wire blobs (as sent at login) and refuses garbage', () => {
    const key = parsed(KNOWN_KEY);
    expect(parsePublicKeyBlob(key.blob)?.type).toBe('ssh-ed25519');
    expect(parsePublicKeyBlob(Buffer.from('not a key'))).toBeUndefined();
  });

  it('fingerprints as OpenSSH does and normalizes fingerprints given without the prefix', () => {
    expect(sshKeyFingerprint(parsed(KNOWN_KEY).blob)).toBe(KNOWN_FINGERPRINT);
    const bare = KNOWN_FINGERPRINT.slice('SHA256:'.length);
    expect(normalizeSshKeyFingerprint(bare)).toBe(KNOWN_FINGERPRINT);
    expect(normalizeSshKeyFingerprint(` ${KNOWN_FINGERPRINT} `)).toBe(KNOWN_FINGERPRINT);
  });
});
