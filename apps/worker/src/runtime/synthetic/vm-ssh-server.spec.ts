import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '@grove/testing';
import { Client, type ClientChannel } from 'ssh2';
import { SSHD_MAX_SESSIONS, VmSshServer, type VmSshServerOptions } from './vm-ssh-server';

const HOST_KEY = generateKeyPairSync('ec', {
  namedCurve: 'prime256v1',
  privateKeyEncoding: { type: 'sec1', format: 'pem' },
  publicKeyEncoding: { type: 'spki', format: 'pem' },
}).privateKey;

describe('VmSshServer', () => {
  let home: string;
  const cleanups: (() => void)[] = [];

  beforeEach(() => {
    home = mkdtempSync(join(tmpdir(), 'grove-vm-ssh-'));
  });

  afterEach(() => {
    cleanups.splice(0).forEach((cleanup) => cleanup());
    rmSync(home, { recursive: true, force: true });
  });

  /** A VmSshServer behind a listener on 127.0.0.1, as the synthetic runtime runs it. */
  async function serve(options: Partial<VmSshServerOptions> = {}): Promise<{ ssh: VmSshServer; port: number }> {
    const ssh = new VmSshServer({
      hostKey: HOST_KEY,
      credentials: { username: 'ci', password: 'secret' },
      home,
      ...options,
    });
    const sockets = new Set<Socket>();
    const listener: Server = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
      ssh.handle(socket);
    });
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => {
      ssh.close();
      sockets.forEach((socket) => socket.destroy());
      listener.close();
    });
    return { ssh, port: (listener.address() as AddressInfo).port };
  }

  async function login(port: number): Promise<Client> {
    const client = new Client();
    client.on('error', () => undefined);
    cleanups.unshift(() => client.end());
    await new Promise<void>((resolve, reject) => {
      client.once('ready', resolve).once('error', reject);
      client.connect({ host: '127.0.0.1', port, username: 'admin', password: 'admin', hostVerifier: () => true });
    });
    return client;
  }

  /** Starts `cat`, which runs until its channel is closed (its stdin stays open). */
  function holdSession(client: Client): Promise<ClientChannel> {
    return new Promise((resolve, reject) =>
      client.exec('cat', (err, channel) => (err ? reject(err) : resolve(channel))),
    );
  }

  it('refuses sessions beyond sshd’s MaxSessions on one connection, keeps it up, and frees slots as sessions close', async () => {
    const { ssh, port } = await serve();
    const client = await login(port);
    const held = await Promise.all(Array.from({ length: SSHD_MAX_SESSIONS }, () => holdSession(client)));
    expect(ssh.stats).toEqual({ connections: 1, openSessions: 10, refusedSessions: 0 });

    const refusal = (await holdSession(client).catch((err: unknown) => err)) as Error & { reason?: unknown };
    expect(refusal.message).toMatch(/Channel open failure/);
    expect(typeof refusal.reason).toBe('number');
    expect(ssh.stats).toEqual({ connections: 1, openSessions: 10, refusedSessions: 1 });

    // The limit is per connection: another one gets sessions of its own.
    const other = await login(port);
    (await holdSession(other)).close();

    held[0].close();
    await waitFor('the slot to be free', () => ssh.stats.openSessions === 9);
    const again = await holdSession(client);
    expect(ssh.stats).toEqual({ connections: 2, openSessions: 10, refusedSessions: 1 });
    again.close();
    held.forEach((channel) => channel.close());
    await waitFor('every session to end', () => ssh.stats.openSessions === 0);
  });

  it('counts a session that ran its command to the end as closed', async () => {
    const { ssh, port } = await serve({ maxSessions: 1 });
    const client = await login(port);
    for (const word of ['one', 'two', 'three']) {
      const output = await new Promise<string>((resolve, reject) =>
        client.exec(`echo ${word}`, (err, channel) => {
          if (err) {
            reject(err);
            return;
          }
          let out = '';
          channel.on('data', (data: Buffer) => (out += data.toString()));
          channel.on('close', () => resolve(out));
        }),
      );
      expect(output).toBe(`${word}\n`);
    }
    await waitFor('the last session to end', () => ssh.stats.openSessions === 0);
    expect(ssh.stats).toEqual({ connections: 1, openSessions: 0, refusedSessions: 0 });
  });

  it('lifts the limit with maxSessions Infinity', async () => {
    const { ssh, port } = await serve({ maxSessions: Infinity });
    const client = await login(port);
    const held = await Promise.all(Array.from({ length: 12 }, () => holdSession(client)));
    expect(ssh.stats).toEqual({ connections: 1, openSessions: 12, refusedSessions: 0 });
    held.forEach((channel) => channel.close());
  });
});
