/**
 * Splits a command line into words as a POSIX shell splits quoted words (XCU 2.2, 2.3), without any expansion: `$`,
 * `~` and `*` stay as they are, so `${ORCHARD_PROCESS_SOCKET}` reaches the worker, which fills it in. Used by
 * `grove create vm --host-process NAME=COMMAND`, whose program runs without a shell on the worker.
 *
 * - Blanks (space, tab) separate words; a quoted empty string (`''`, `""`) is an empty word.
 * - `'…'` keeps everything up to the next `'`.
 * - `"…"` keeps everything, except that a backslash before `$`, `` ` ``, `"`, `\` or a newline quotes that character
 *   (and a backslash-newline disappears); before anything else the backslash stays.
 * - An unquoted backslash quotes the next character; backslash-newline disappears.
 *
 * What a shell would run differently, an unquoted operator (`| & ; < > ( )`), newline or backquote, or a word starting
 * with `#` (a comment), is refused rather than passed on as a plain argument: whoever wrote it wanted a shell, and should
 * quote it or run one (`sh -c '…'`). Throws an `Error` saying what is wrong and where.
 */
export function splitShellWords(text: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  const append = (chars: string) => {
    word = (word ?? '') + chars;
  };
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === ' ' || c === '\t') {
      if (word !== undefined) {
        words.push(word);
        word = undefined;
      }
      i += 1;
    } else if (c === '\\') {
      if (i + 1 >= text.length) {
        throw new Error('the command ends with a backslash that quotes nothing');
      }
      if (text[i + 1] !== '\n') {
        append(text[i + 1]);
      }
      i += 2;
    } else if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) {
        throw new Error(`the single quote at character ${i + 1} is not closed`);
      }
      append(text.slice(i + 1, end));
      i = end + 1;
    } else if (c === '"') {
      const [chars, next] = doubleQuoted(text, i);
      append(chars);
      i = next;
    } else if ('|&;<>()`'.includes(c)) {
      throw new Error(
        `"${c}" at character ${i + 1} would be shell syntax, but the command runs without a shell: quote it, or run ` +
          "a shell (sh -c '…')",
      );
    } else if (c === '\n') {
      throw new Error(`the newline at character ${i + 1} would end the command in a shell: quote it`);
    } else if (c === '#' && word === undefined) {
      throw new Error(
        `"#" at character ${i + 1} would start a comment in a shell, but the command runs without a shell: quote it`,
      );
    } else {
      append(c);
      i += 1;
    }
  }
  if (word !== undefined) {
    words.push(word);
  }
  return words;
}

/** The characters a backslash quotes inside double quotes (XCU 2.2.3); before others it stays itself. */
const DOUBLE_QUOTE_ESCAPES = '$`"\\\n';

/** Reads `"…"` starting at the quote at `start`; returns its characters and the index after the closing quote. */
function doubleQuoted(text: string, start: number): [string, number] {
  let chars = '';
  let i = start + 1;
  while (i < text.length) {
    const c = text[i];
    if (c === '"') {
      return [chars, i + 1];
    }
    if (c === '\\' && i + 1 < text.length && DOUBLE_QUOTE_ESCAPES.includes(text[i + 1])) {
      if (text[i + 1] !== '\n') {
        chars += text[i + 1];
      }
      i += 2;
    } else {
      chars += c;
      i += 1;
    }
  }
  throw new Error(`the double quote at character ${start + 1} is not closed`);
}

/**
 * A word as a shell would read it back: as it is when it holds only characters no shell treats specially (`${…}`
 * included, since {@link splitShellWords} keeps it as written), otherwise in single quotes.
 */
export function quoteShellWord(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./${}-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
