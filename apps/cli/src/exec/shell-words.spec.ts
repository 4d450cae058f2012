import { execFileSync } from 'node:child_process';
import { commandLine, shellQuote } from './shell-words';

/** The argv `/bin/sh -c line` hands to a program: printf prints each argument between brackets. */
function argvThroughShell(line: string): string[] {
  const out = execFileSync('/bin/sh', ['-c', `printf() { command printf '[%s]\\n' "$@"; }; ${line}`], {
    encoding: 'utf8',
  });
  return [...out.matchAll(/\[([^\]]*)\]\n/g)].map((m) => m[1]);
}

describe('shell words', () => {
  it('leaves plain words alone and single-quotes the rest', () => {
    expect(shellQuote('ls')).toBe('ls');
    expect(shellQuote('--color=auto')).toBe('--color=auto');
    expect(shellQuote('/usr/bin/env')).toBe('/usr/bin/env');
    expect(shellQuote('')).toBe("''");
    expect(shellQuote('a b')).toBe("'a b'");
    expect(shellQuote("it's")).toBe("'it'\\''s'");
    expect(shellQuote('~')).toBe("'~'");
  });

  it('runs the issue example as exactly its argv', () => {
    expect(commandLine(['sh', '-c', 'echo out; echo err >&2; exit 7'])).toBe("sh -c 'echo out; echo err >&2; exit 7'");
  });

  it('never lets the first word be an assignment or a reserved word', () => {
    expect(commandLine(['A=1', 'x'])).toBe("'A=1' x");
    expect(commandLine(['if'])).toBe("'if'");
    expect(commandLine(['echo', 'A=1'])).toBe('echo A=1');
  });

  it('gets every argument through /bin/sh unchanged', () => {
    const words = [
      'plain',
      '',
      'two words',
      "it's",
      '"double"',
      '$HOME',
      '`id`',
      '$(id)',
      '*',
      '~',
      'a\nb',
      'back\\slash',
      '; rm -rf /',
      '#comment',
      'ünïcødé ✓',
      '-n',
      "''",
    ];
    expect(argvThroughShell(commandLine(['printf', ...words]))).toEqual(words);
  });
});
