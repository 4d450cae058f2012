import type { LoggerService } from '@nestjs/common';

const SECRET_PATTERN = /(token|password|authorization)(["']?\s*[:=]\s*["']?)[^\s"',}]+/gi;

/** Hides anything that looks like a credential before it reaches a log line. */
export function redact(text: string): string {
  return text.replace(SECRET_PATTERN, '$1$2<redacted>');
}

/** One JSON object per line, for production log pipelines (`--log-format json`). */
export class JsonLogger implements LoggerService {
  log(message: unknown, context?: string): void {
    this.write('info', message, context);
  }

  error(message: unknown, stack?: string, context?: string): void {
    this.write('error', message, context, stack);
  }

  warn(message: unknown, context?: string): void {
    this.write('warn', message, context);
  }

  debug(message: unknown, context?: string): void {
    this.write('debug', message, context);
  }

  verbose(message: unknown, context?: string): void {
    this.write('verbose', message, context);
  }

  private write(level: string, message: unknown, context?: string, stack?: string): void {
    const entry: Record<string, unknown> = {
      time: new Date().toISOString(),
      level,
      context,
      message: redact(typeof message === 'string' ? message : JSON.stringify(message)),
    };
    if (stack) {
      entry['stack'] = stack;
    }
    process.stdout.write(`${JSON.stringify(entry)}\n`);
  }
}
