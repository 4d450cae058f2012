import { OutputEventEncoder } from './exec-events';

describe('NDJSON output events', () => {
  it('sends valid UTF-8 as text', () => {
    const encoder = new OutputEventEncoder('stdout');
    expect(encoder.push(Buffer.from('héllo ✓\n'))).toEqual({ event: 'stdout', data: 'héllo ✓\n' });
    expect(encoder.flush()).toBeUndefined();
  });

  it('carries a character split across chunks over to the next chunk', () => {
    const encoder = new OutputEventEncoder('stderr');
    const bytes = Buffer.from('a€b😀c');
    // Split inside "€" (3 bytes) and inside "😀" (4 bytes).
    expect(encoder.push(bytes.subarray(0, 2))).toEqual({ event: 'stderr', data: 'a' });
    expect(encoder.push(bytes.subarray(2, 6))).toEqual({ event: 'stderr', data: '€b' });
    expect(encoder.push(bytes.subarray(6, 7))).toBeUndefined();
    expect(encoder.push(bytes.subarray(7))).toEqual({ event: 'stderr', data: '😀c' });
  });

  it('sends chunks that are not UTF-8 as base64', () => {
    const encoder = new OutputEventEncoder('stdout');
    const binary = Buffer.from([0xff, 0x00, 0xfe, 0x41]);
    expect(encoder.push(binary)).toEqual({ event: 'stdout', data: binary.toString('base64'), encoding: 'base64' });
    expect(encoder.push(Buffer.from('ok'))).toEqual({ event: 'stdout', data: 'ok' });
  });

  it('keeps a byte-order mark and sends an unfinished character at the end as base64', () => {
    const encoder = new OutputEventEncoder('stdout');
    expect(encoder.push(Buffer.from([0xef, 0xbb, 0xbf, 0x41]))).toEqual({ event: 'stdout', data: '\ufeffA' });
    expect(encoder.push(Buffer.from([0xe2, 0x82]))).toBeUndefined();
    expect(encoder.flush()).toEqual({
      event: 'stdout',
      data: Buffer.from([0xe2, 0x82]).toString('base64'),
      encoding: 'base64',
    });
    expect(encoder.flush()).toBeUndefined();
  });
});
