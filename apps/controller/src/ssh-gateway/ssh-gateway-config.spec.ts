import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { utils } from 'ssh2';
import { type ConfigError, loadControllerConfig } from '../infra/config/controller-config';
import { loadOrCreateSshHostKey, SSH_HOST_KEY_FILE } from './ssh-host-key';
import { parseSshLogin } from './ssh-login';

function problems(argv: string[]): string[] {
  try {
    loadControllerConfig(argv, {});
  } catch (err) {
    return (err as ConfigError).problems;
  }
  throw new Error('no ConfigError');
}

describe('SSH gateway configuration', () => {
  it('is off by default', () => {
    const config = loadControllerConfig([], {});
    expect(config.sshListen).toBeUndefined();
    expect(config.sshHostKeyFile).toBeUndefined();
  });

  it('reads --listen-ssh (HOST:PORT, :PORT, [v6]:PORT) and --ssh-host-key (made absolute)', () => {
    expect(loadControllerConfig(['--listen-ssh', '127.0.0.1:6122'], {}).sshListen).toEqual({
      host: '127.0.0.1',
      port: 6122,
    });
    expect(loadControllerConfig(['--listen-ssh', ':6122'], {}).sshListen).toEqual({ host: '0.0.0.0', port: 6122 });
    expect(loadControllerConfig(['--listen-ssh', '[::1]:0'], {}).sshListen).toEqual({ host: '::1', port: 0 });
    const config = loadControllerConfig(['--listen-ssh', ':6122', '--ssh-host-key', 'keys/host'], {});
    expect(config.sshHostKeyFile).toBe(join(process.cwd(), 'keys/host'));
  });

  it('reports a bad address and a host key without the gateway, with the other problems', () => {
    expect(problems(['--listen-ssh', 'nowhere'])).toEqual(['--listen-ssh "nowhere" is not of the form HOST:PORT']);
    expect(problems(['--listen-ssh', ':70000', '--log-format', 'xml'])).toEqual([
      '--listen-ssh ":70000": port must be between 0 and 65535',
      '--log-format "xml" must be text or json',
    ]);
    expect(problems(['--ssh-host-key', '/etc/key'])).toEqual([
      '--ssh-host-key needs --listen-ssh (the SSH gateway is off without it)',
    ]);
  });
});

describe('SSH logins', () => {
  it('splits sa+vm at the first "+" and refuses empty parts', () => {
    expect(parseSshLogin('ci')).toEqual({ account: 'ci' });
    expect(parseSshLogin('ci+runner-1')).toEqual({ account: 'ci', vm: 'runner-1' });
    expect(parseSshLogin('ci+a+b')).toEqual({ account: 'ci', vm: 'a+b' });
    for (const bad of ['', '+vm', 'ci+']) {
      expect(parseSshLogin(bad)).toBeUndefined();
    }
  });
});

describe('SSH host key', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'grove-ssh-host-key-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('generates an ed25519 key once (mode 0600) and keeps it across starts', () => {
    const first = loadOrCreateSshHostKey({ dataDir: dir });
    expect(first).toMatchObject({ type: 'ssh-ed25519', source: 'generated' });
    expect(first.fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    const path = join(dir, SSH_HOST_KEY_FILE);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const second = loadOrCreateSshHostKey({ dataDir: dir });
    expect(second).toMatchObject({ source: 'data-dir', fingerprint: first.fingerprint });
    expect(readFileSync(path, 'utf8')).toBe(first.privateKey);
  });

  it('uses --ssh-host-key instead, and refuses public keys and unreadable files naming the flag', () => {
    const pair = utils.generateKeyPairSync('ecdsa', { bits: 256 });
    const file = join(dir, 'host');
    writeFileSync(file, pair.private);
    expect(loadOrCreateSshHostKey({ dataDir: dir, keyFile: file })).toMatchObject({
      type: 'ecdsa-sha2-nistp256',
      source: 'user',
    });
    writeFileSync(file, pair.public);
    expect(() => loadOrCreateSshHostKey({ dataDir: dir, keyFile: file })).toThrow(
      `--ssh-host-key ${file}: holds a public key`,
    );
    expect(() => loadOrCreateSshHostKey({ dataDir: dir, keyFile: join(dir, 'missing') })).toThrow(
      /--ssh-host-key .*missing: cannot read the file/,
    );
  });
});
