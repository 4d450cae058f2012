import { StringDecoder } from 'node:string_decoder';

/**
 * Parses newline-delimited JSON from a byte stream: one value per line, blank lines skipped. Lines and multi-byte
 * characters may be split across chunks. Ends when the stream ends; a line that is not JSON is an error.
 */
export async function* parseNdjson<T>(stream: AsyncIterable<Buffer | string>): AsyncGenerator<T, void, undefined> {
  const decoder = new StringDecoder('utf8');
  let pending = '';
  for await (const chunk of stream) {
    pending += typeof chunk === 'string' ? chunk : decoder.write(chunk);
    let newline = pending.indexOf('\n');
    while (newline >= 0) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      const value = parseLine<T>(line);
      if (value !== undefined) {
        yield value;
      }
      newline = pending.indexOf('\n');
    }
  }
  const value = parseLine<T>(pending + decoder.end());
  if (value !== undefined) {
    yield value;
  }
}

function parseLine<T>(line: string): T | undefined {
  const text = line.trim();
  if (text === '') {
    return undefined;
  }
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    const shown = text.length > 100 ? `${text.slice(0, 100)}…` : text;
    throw new Error(`the controller sent a stream line that is not JSON: ${shown}`, { cause: err });
  }
}
