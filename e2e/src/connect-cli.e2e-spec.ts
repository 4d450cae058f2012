import { randomBytes } from 'node:crypto';
import { freePort, waitFor, type RunningProcess } from '@grove/testing';
import type { GroveResult } from './test-support/cli-process';
import { startCliCluster, type CliCluster } from './test-support/cli-cluster';
import { startGrove } from './test-support/grove-process';
import { tcpExchange } from './test-support/tcp-exchange';

/**
 * The connect commands' "done when", end to end: real `grove` processes against a real controller and a synthetic
 * worker (whose VMs serve SSH on port 22 and echo on port 7), nothing faked.
 */
describe('grove port-forward, ssh and ip against a controller and a synthetic worker', () => {
  let cluster: CliCluster;
  let home: string;
  const background: RunningProcess[] = [];

  const grove = (args: string[], input?: string): Promise<GroveResult> => cluster.grove(args, input);

  beforeAll(async () => {
    cluster = await startCliCluster('connect-cli');
    home = cluster.home;
  });

  afterAll(async () => {
    await Promise.all(background.map((proc) => proc.stop('SIGINT')));
    await cluster?.stop();
  });

  it('port-forward vm v1 PORT:7 echoes TCP bytes through the local port, per connection, until Ctrl-C', async () => {
    const port = await freePort();
    const forwarder = startGrove(['port-forward', 'vm', 'v1', `${port}:7`], home);
    background.push(forwarder);
    await waitFor(
      'the forwarder to listen',
      () => forwarder.output().includes(`Forwarding 127.0.0.1:${port} -> vm/v1:7; press Ctrl-C to stop`),
      15_000,
    );

    const sent = Array.from({ length: 3 }, () => randomBytes(256 * 1024));
    const back = await Promise.all(sent.map((data) => tcpExchange(port, data)));
    back.forEach((data, i) => expect(data.equals(sent[i])).toBe(true));

    expect(await forwarder.stop('SIGINT')).toBe(0);
  });

  it("ssh vm v1 'echo hi' prints hi and exits 0", async () => {
    expect(await grove(['ssh', 'vm', 'v1', 'echo hi'])).toEqual({ code: 0, stdout: 'hi\n', stderr: '' });
  });

  it("ssh vm v1 'exit 3' exits 3", async () => {
    expect(await grove(['ssh', 'vm', 'v1', 'exit 3'])).toMatchObject({ code: 3, stdout: '' });
  });

  it("ssh vm v1 'sh -s' < script runs the script from stdin, stdout and stderr apart", async () => {
    const script = ['a=6', 'b=7', 'echo "product $((a * b))"', 'echo to-stderr >&2', 'exit 5', ''].join('\n');
    expect(await grove(['ssh', 'vm', 'v1', 'sh -s'], script)).toEqual({
      code: 5,
      stdout: 'product 42\n',
      stderr: 'to-stderr\n',
    });
  });

  it('ip vm v1 prints the address its worker sees', async () => {
    // A synthetic VM's services listen on the worker's loopback.
    expect(await grove(['ip', 'vm', 'v1'])).toEqual({ code: 0, stdout: '127.0.0.1\n', stderr: '' });
  });
});
