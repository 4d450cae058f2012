import { ApiError, parseRetryAfter } from './client.errors';

describe('Retry-After', () => {
  const now = Date.parse('2025-03-01T12:00:00Z');

  it.each([
    ['5', 5],
    [' 0 ', 0],
    ['Sat, 01 Mar 2025 12:00:07 GMT', 7],
    // A date in the past asks for no wait at all.
    ['Sat, 01 Mar 2025 11:59:00 GMT', 0],
  ])('reads %j as %d s', (header, seconds) => {
    expect(parseRetryAfter(header, now)).toBe(seconds);
  });

  it.each([undefined, '', '-1', '1.5', 'soon', '99999999999999999999'])('ignores %j', (header) => {
    expect(parseRetryAfter(header, now)).toBeUndefined();
  });

  it('is taken from the headers of the answer, whatever its body', () => {
    expect(ApiError.fromResponse(503, '', { 'retry-after': '2' }).retryAfterSeconds).toBe(2);
    expect(ApiError.fromResponse(503, '{"message":"down"}', { 'retry-after': '4' })).toMatchObject({
      message: 'down',
      retryAfterSeconds: 4,
    });
    expect(ApiError.fromResponse(503, 'down').retryAfterSeconds).toBeUndefined();
  });
});
