import { randomBytes } from 'node:crypto';
import { waitFor, type RunningProcess } from '@grove/testing';
import type { GroveResult } from './test-support/cli-process';
import { startCliCluster, type CliCluster } from './test-support/cli-cluster';
import { startGrove } from './test-support/grove-process';

/**
 * `grove exec`'s "done when" (issue 5), end to end: real `grove` processes against a real controller and a synthetic
 * worker, through the controller's exec WebSocket; nothing faked.
 */
describe('grove exec against a controller and a synthetic worker', () => {
  let cluster: CliCluster;
  let home: string;
  const background: RunningProcess[] = [];

  const grove = (args: string[], input?: string): Promise<GroveResult> => cluster.grove(args, input);

  beforeAll(async () => {
    cluster = await startCliCluster('exec-cli');
    home = cluster.home;
  });

  afterAll(async () => {
    await Promise.all(background.map((proc) => proc.stop('SIGKILL')));
    await cluster?.stop();
  });

  it("exec vm v1 -- sh -c 'echo out; echo err >&2; exit 7' prints out, err on stderr, and exits 7", async () => {
    expect(await grove(['exec', 'vm', 'v1', '--', 'sh', '-c', 'echo out; echo err >&2; exit 7'])).toEqual({
      code: 7,
      stdout: 'out\n',
      stderr: 'err\n',
    });
  });

  it('passes every argument unchanged, without a shell in between', async () => {
    const words = ['two words', "it's", '$HOME', '*', ''];
    const result = await grove(['exec', 'vm', 'v1', '--', 'printf', '[%s]\\n', ...words]);
    expect(result).toEqual({ code: 0, stdout: words.map((w) => `[${w}]\n`).join(''), stderr: '' });
  });

  it('-i streams piped stdin to cat, and its end ends cat', async () => {
    const input = `hello\nworld\n${randomBytes(384 * 1024).toString('base64')}\n`;
    const result = await grove(['exec', 'vm', 'v1', '-i', '--', 'cat'], input);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    expect(result.stdout === input).toBe(true);
  });

  it('-e and -w reach the command', async () => {
    const result = await grove([
      'exec',
      'vm',
      'v1',
      '-e',
      "GREETING=O'Reilly",
      '-w',
      '/tmp',
      '--',
      'sh',
      '-c',
      'echo "$GREETING|$(pwd)"',
    ]);
    expect(result).toEqual({ code: 0, stdout: "O'Reilly|/tmp\n", stderr: '' });
  });

  it('-t without a terminal (stdin and stdout are pipes here) runs the program on a 24x80 PTY', async () => {
    const result = await grove(['exec', 'vm', 'v1', '-t', '--', 'sh', '-c', 'stty size; test -t 1 && echo tty']);
    expect(result.code).toBe(0);
    // A PTY turns "\n" into "\r\n".
    expect(result.stdout.replace(/\r\n/g, '\n')).toBe('24 80\ntty\n');
  });

  it('an unknown VM is the controller answer, exit 255', async () => {
    const result = await grove(['exec', 'vm', 'no-such-vm', '--', 'true']);
    expect(result.code).toBe(255);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^Error: controller answered 404: /);
  });

  it('--session: Ctrl-C detaches, the command goes on, reattaching shows the rest and its exit code', async () => {
    const script = 'echo first; sleep 1; echo second; exit 4';
    const first = startGrove(['exec', 'vm', 'v1', '--session', 's1', '--', 'sh', '-c', script], home);
    background.push(first);
    await waitFor('the first line', () => first.output().includes('first\n'), 15_000);

    expect(await first.stop('SIGINT')).toBe(130);
    expect(first.output()).toBe(
      'first\nDetached from exec session "s1" on vm/v1; it keeps running.\n' +
        'Reattach with: grove exec vm v1 --session s1\n',
    );

    // Whether "second" is printed yet or not: it is replayed or arrives live, once, then the exit code.
    expect(await grove(['exec', 'vm', 'v1', '--session', 's1'])).toEqual({ code: 4, stdout: 'second\n', stderr: '' });

    // The session was closed once its end had been shown: nothing to attach to any more.
    const after = await grove(['exec', 'vm', 'v1', '--session', 's1']);
    expect(after.code).toBe(255);
    expect(after.stdout).toBe('');
  });
});
