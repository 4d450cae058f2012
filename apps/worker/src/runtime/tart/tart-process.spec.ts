import { RuntimeError } from '../vm-runtime';
import { TART_NOT_FOUND, firstNonEmptyLine, runProcess, runTart, tartFailureMessage } from './tart-process';

const NODE = process.execPath;

describe('firstNonEmptyLine', () => {
  it('takes the first line with text, trimmed, from the first text that has one', () => {
    expect(firstNonEmptyLine('\n  \nVM "a" is already running!\nmore\n', 'ignored')).toBe('VM "a" is already running!');
    expect(firstNonEmptyLine('', '\r\n pulling manifest... \r\n')).toBe('pulling manifest...');
    expect(firstNonEmptyLine('', ' \n')).toBeUndefined();
  });

  it('drops the ANSI escapes of progress redraws', () => {
    expect(firstNonEmptyLine('\u001b[2K\u001b[1G\n\u001b[2K10%\r')).toBe('10%');
  });
});

describe('tartFailureMessage', () => {
  it('wraps the first stderr line as Orchard does, else the first stdout line', () => {
    const base = { code: 1, signal: null };
    expect(
      tartFailureMessage({
        ...base,
        stderr: 'The number of VMs exceeds the system limit (other running VMs: a, b)\n',
        stdout: 'x',
      }),
    ).toBe('tart command failed: "The number of VMs exceeds the system limit (other running VMs: a, b)"');
    expect(tartFailureMessage({ ...base, stderr: '\n', stdout: 'Failed to suspend the VM: no\n' })).toBe(
      'tart command failed: "Failed to suspend the VM: no"',
    );
  });

  it('names the exit status or signal of a silent failure', () => {
    expect(tartFailureMessage({ code: 3, signal: null, stdout: '', stderr: '' })).toBe(
      'tart command failed: "exit status 3"',
    );
    expect(tartFailureMessage({ code: null, signal: 'SIGKILL', stdout: '', stderr: '' })).toBe(
      'tart command failed: "signal: SIGKILL"',
    );
  });
});

describe('runTart', () => {
  const env = process.env;

  it('returns buffered output with stdin closed', async () => {
    const script = 'process.stdin.on("data",()=>{}).on("end",()=>{console.log("out");console.error("err")})';
    const result = await runTart(NODE, ['-e', script], { env });
    expect(result).toMatchObject({ code: 0, stdout: 'out\n', stderr: 'err\n' });
  });

  it('reports a missing binary in Orchard’s words', async () => {
    await expect(runTart('/nonexistent/tart', ['list'], { env })).rejects.toEqual(new RuntimeError(TART_NOT_FOUND));
    await expect(runTart('grove-no-such-tart', ['list'], { env })).rejects.toThrow(TART_NOT_FOUND);
  });

  it('turns a non-zero exit into a RuntimeError with the first stderr line and the exit code', async () => {
    const script =
      'console.log("stdout line"); console.error("\\nthe specified VM \\"x\\" does not exist"); process.exit(2)';
    const error = await runTart(NODE, ['-e', script], { env }).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(RuntimeError);
    expect(error).toMatchObject({ message: 'tart command failed: "the specified VM "x" does not exist"', exitCode: 2 });
  });

  it('accepts tolerated exit codes', async () => {
    await expect(runTart(NODE, ['-e', 'process.exit(2)'], { env, tolerate: [2] })).resolves.toMatchObject({ code: 2 });
  });

  it('SIGKILLs the child when the signal fires, and does not spawn when it already has', async () => {
    const abort = new AbortController();
    const started = runProcess(NODE, ['-e', 'console.log("up"); setInterval(() => {}, 1000)'], {
      env,
      signal: abort.signal,
    });
    setTimeout(() => abort.abort(), 200);
    await expect(started).resolves.toMatchObject({ code: null, signal: 'SIGKILL', aborted: true });
    await expect(runTart(NODE, ['-e', ''], { env, signal: abort.signal })).rejects.toThrow('tart -e was cancelled');
  });

  it('SIGKILLs the child after its timeout', async () => {
    await expect(runTart(NODE, ['-e', 'setInterval(() => {}, 1000)'], { env, timeoutMs: 300 })).rejects.toThrow(
      /did not finish within/,
    );
  });
});
