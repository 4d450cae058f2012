import { execFileSync } from 'node:child_process';
import { quoteShellWord, splitShellWords } from './shell-words';

/** How /bin/sh splits `text` (it must hold nothing a shell would expand): the words printf gets. */
function shellSplit(text: string): string[] {
  // A first word of its own: printf without arguments would still print one (empty) word.
  const out = execFileSync('/bin/sh', ['-c', `printf '%s\\0' first ${text}`], { encoding: 'utf8' });
  return out.split('\0').slice(1, -1);
}

describe('splitShellWords', () => {
  // Each case is also run through /bin/sh, so the table cannot drift from what a shell does.
  it.each<[string, string[]]>([
    ['/usr/bin/socat UNIX-LISTEN:x TCP:127.0.0.1:80', ['/usr/bin/socat', 'UNIX-LISTEN:x', 'TCP:127.0.0.1:80']],
    ['  a \t b  c  ', ['a', 'b', 'c']],
    ['\'multi\nline\' "double\nquoted"', ['multi\nline', 'double\nquoted']],
    ["'two words' three", ['two words', 'three']],
    ['"two words" "a \\" quote"', ['two words', 'a " quote']],
    ['"back\\slash \\\\ kept"', ['back\\slash \\ kept']],
    ['a\'b\'"c"d', ['abcd']],
    ['\'\' "" x', ['', '', 'x']],
    ['a\\ b c\\\\d', ['a b', 'c\\d']],
    ["'it'\\''s'", ["it's"]],
    ['line\\\ncontinued "in\\\nquotes"', ['linecontinued', 'inquotes']],
    ['\'a|b\' "c;d" e\\&f x#y', ['a|b', 'c;d', 'e&f', 'x#y']],
    ['', []],
  ])('splits %j as a shell does', (text, words) => {
    expect(splitShellWords(text)).toEqual(words);
    expect(shellSplit(text)).toEqual(words);
  });

  it('expands nothing: ${…} placeholders, $VAR, ~ and globs reach the worker as written', () => {
    expect(splitShellWords('socat UNIX-LISTEN:${ORCHARD_PROCESS_SOCKET},fork "$HOME" \'$X\' ~ *.txt "\\$Y"')).toEqual([
      'socat',
      'UNIX-LISTEN:${ORCHARD_PROCESS_SOCKET},fork',
      '$HOME',
      '$X',
      '~',
      '*.txt',
      '$Y',
    ]);
    expect(splitShellWords('a "`date`" "$(date)"')).toEqual(['a', '`date`', '$(date)']);
  });

  it.each([
    ["'open", 'the single quote at character 1 is not closed'],
    ['a "b c', 'the double quote at character 3 is not closed'],
    ['a\\', 'the command ends with a backslash that quotes nothing'],
    ['a | b', '"|" at character 3 would be shell syntax, but the command runs without a shell'],
    ['a;b', '";" at character 2 would be shell syntax'],
    ['a > out', '">" at character 3 would be shell syntax'],
    ['$(date)', '"(" at character 2 would be shell syntax'],
    ['a `date`', '"`" at character 3 would be shell syntax'],
    ['a\nb', 'the newline at character 2 would end the command in a shell: quote it'],
    ['a # note', '"#" at character 3 would start a comment in a shell'],
  ])('refuses %j, saying why', (text, message) => {
    expect(() => splitShellWords(text)).toThrow(message);
  });
});

describe('quoteShellWord', () => {
  it('leaves plain words and ${…} placeholders alone and quotes the rest so that they split back the same', () => {
    const words = ['/usr/bin/socat', 'UNIX-LISTEN:${ORCHARD_PROCESS_SOCKET},fork', 'two words', "it's", '', 'a|b', '~'];
    const quoted = words.map(quoteShellWord);
    expect(quoted).toEqual([
      '/usr/bin/socat',
      'UNIX-LISTEN:${ORCHARD_PROCESS_SOCKET},fork',
      "'two words'",
      "'it'\\''s'",
      "''",
      "'a|b'",
      "'~'",
    ]);
    expect(splitShellWords(quoted.join(' '))).toEqual(words);
  });
});
