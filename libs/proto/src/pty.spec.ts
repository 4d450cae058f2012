import { shellCommand, shellQuote } from './pty';

describe('shellCommand', () => {
  it('runs commands and shells with /bin/sh when there is no PTY', () => {
    expect(shellCommand('echo hi', undefined)).toEqual({ file: '/bin/sh', args: ['-c', 'echo hi'] });
    expect(shellCommand(undefined, undefined)).toEqual({ file: '/bin/sh', args: [] });
  });

  it('puts a command on a sized PTY with util-linux script on Linux', () => {
    expect(shellCommand("echo 'a b'", { rows: 30, cols: 100 }, 'linux')).toEqual({
      file: 'script',
      args: ['-qfec', `/bin/sh -c 'stty rows 30 cols 100 2>/dev/null; echo '\\''a b'\\'''`, '/dev/null'],
    });
    expect(shellCommand(undefined, { rows: 24, cols: 80 }, 'linux').args[1]).toContain('exec /bin/sh -i');
  });

  it('uses BSD script on macOS', () => {
    expect(shellCommand('ls', { rows: 24, cols: 80 }, 'darwin')).toEqual({
      file: 'script',
      args: ['-q', '/dev/null', '/bin/sh', '-c', 'stty rows 24 cols 80 2>/dev/null; ls'],
    });
  });
});

describe('shellQuote', () => {
  it('makes one shell word of anything', () => {
    expect(shellQuote(`it's "$HOME"`)).toBe(`'it'\\''s "$HOME"'`);
  });
});
