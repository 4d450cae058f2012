import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { dirname } from 'node:path';

/** A worker log: one readable line per event on stdout and, with `--log-file`, one JSON object per line there. */
export interface WorkerLog {
  (line: string): void;
  close(): Promise<void>;
}

export function createWorkerLog(
  worker: string,
  logFile: string | undefined,
  out: (text: string) => void = (text) => process.stdout.write(text),
): WorkerLog {
  let file: WriteStream | undefined;
  if (logFile !== undefined) {
    mkdirSync(dirname(logFile), { recursive: true });
    file = createWriteStream(logFile, { flags: 'a', mode: 0o600 });
  }
  const log = ((line: string) => {
    const time = new Date().toISOString();
    out(`${time} worker ${worker}: ${line}\n`);
    file?.write(`${JSON.stringify({ time, worker, msg: line })}\n`);
  }) as WorkerLog;
  log.close = () => new Promise<void>((resolve) => (file ? file.end(resolve) : resolve()));
  return log;
}
