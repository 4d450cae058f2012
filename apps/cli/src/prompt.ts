import { createInterface } from 'node:readline';
import { CliError } from './cli.errors';

/**
 * Asks a question on stderr and reads one line from stdin (a terminal or a pipe, so that `echo yes | grove …`
 * works). Rejects when stdin ends before a line arrives.
 */
export function askLine(question: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const rl = createInterface({
      input: process.stdin,
      output: process.stderr,
      terminal: Boolean(process.stdin.isTTY),
    });
    let answered = false;
    rl.question(question, (answer) => {
      answered = true;
      rl.close();
      resolve(answer.trim());
    });
    rl.once('close', () => {
      if (!answered) {
        reject(new CliError('no answer: the input ended before a line was read'));
      }
    });
  });
}

/** Reads a secret from the terminal without echoing it. Only for a TTY stdin. */
export function askSecret(question: string): Promise<string> {
  const stdin = process.stdin;
  return new Promise((resolve, reject) => {
    process.stderr.write(question);
    let value = '';
    const finish = (err?: Error): void => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', onData);
      process.stderr.write('\n');
      if (err) {
        reject(err);
      } else {
        resolve(value);
      }
    };
    const onData = (chunk: Buffer): void => {
      for (const char of chunk.toString('utf8')) {
        if (char === '\r' || char === '\n' || char === '\u0004') {
          finish();
          return;
        }
        if (char === '\u0003') {
          finish(new CliError('interrupted'));
          return;
        }
        if (char === '\u007f' || char === '\b') {
          value = value.slice(0, -1);
        } else {
          value += char;
        }
      }
    };
    stdin.setRawMode(true);
    stdin.resume();
    stdin.on('data', onData);
  });
}

/** Whether the CLI may ask questions: only when a person is at the terminal. */
export function canPrompt(): boolean {
  return Boolean(process.stdin.isTTY);
}
