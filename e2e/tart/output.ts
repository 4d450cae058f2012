/** stdout/stderr helpers: Tart prints whole lines, progress and results on stdout, errors on stderr. */

export function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

export function complain(line: string): void {
  process.stderr.write(`${line}\n`);
}

function drained(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => stream.write('', () => resolve()));
}

/** Exits once everything written so far has reached the pipes (writes to pipes are asynchronous on macOS). */
export async function exitAfterFlush(code: number): Promise<never> {
  await Promise.all([drained(process.stdout), drained(process.stderr)]);
  process.exit(code);
}

/** Progress lines (§1.1): plain lines when CI is set, otherwise the line is redrawn in place with ANSI escapes. */
export class Progress {
  private open = false;

  constructor(private readonly plain: boolean) {}

  percent(value: number): void {
    if (this.plain) {
      say(`${value}%`);
      return;
    }
    process.stdout.write(`\r\x1b[2K${value}%`);
    this.open = true;
  }

  done(): void {
    if (this.open) {
      process.stdout.write('\n');
      this.open = false;
    }
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
