/**
 * The exec endpoint runs its `command` with `/bin/sh -c` (Orchard's protocol, orchard.md §1.5), while `grove exec`
 * takes a program and its arguments, as `docker exec`, `kubectl exec` and `tart exec` do. These functions turn the
 * argument vector into a shell command line that makes `sh` run exactly that vector.
 */

/** Words that mean nothing special to a POSIX shell anywhere in a command line. */
const PLAIN_WORD = /^[A-Za-z0-9_@%+,./:=-]+$/;

/**
 * Words the shell would read as something other than a program name in first position: reserved words, and
 * assignments (`A=1` sets a variable). Quoting the first word defeats both; a quoted builtin is still a builtin.
 */
const RESERVED_WORDS = new Set([
  'case',
  'do',
  'done',
  'elif',
  'else',
  'esac',
  'fi',
  'for',
  'function',
  'if',
  'in',
  'select',
  'then',
  'time',
  'until',
  'while',
]);

/** `word` as one POSIX shell word: unchanged when plain, else in single quotes (a `'` becomes `'\''`). */
export function shellQuote(word: string): string {
  if (PLAIN_WORD.test(word)) {
    return word;
  }
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * A shell command line that runs `argv[0]` with the arguments `argv[1..]`, every word reaching the program unchanged
 * (spaces, quotes, `$`, `*`, newlines, empty words). The program is not looked up as a reserved word or an assignment.
 */
export function commandLine(argv: readonly string[]): string {
  if (argv.length === 0) {
    throw new Error('commandLine: no program');
  }
  const [program, ...args] = argv;
  const first =
    program.includes('=') || RESERVED_WORDS.has(program) ? `'${program.replace(/'/g, `'\\''`)}'` : shellQuote(program);
  return [first, ...args.map(shellQuote)].join(' ');
}
