import { UsageError } from '../cli.errors';
import { parseEnvFlags } from './exec-options';

describe('-e/--env flags', () => {
  it('takes NAME=VALUE (empty values and "=" in values too) and NAME from the local environment', () => {
    expect(parseEnvFlags(['A=1', 'EMPTY=', 'URL=a=b', 'HOME', 'A=2'], { HOME: '/home/me' })).toEqual({
      A: '2',
      EMPTY: '',
      URL: 'a=b',
      HOME: '/home/me',
    });
  });

  it('rejects names the API rejects, naming the flag', () => {
    expect(() => parseEnvFlags(['1X=2'], {})).toThrow(UsageError);
    expect(() => parseEnvFlags(['1X=2'], {})).toThrow(
      'invalid -e/--env "1X=2": the variable name "1X" must match [A-Za-z_][A-Za-z0-9_]*',
    );
    expect(() => parseEnvFlags(['=x'], {})).toThrow('the variable name "" must match');
    expect(() => parseEnvFlags(['A-B=1'], {})).toThrow('"A-B"');
  });

  it('rejects a bare NAME that is not set here', () => {
    expect(() => parseEnvFlags(['NOPE'], {})).toThrow('invalid -e/--env "NOPE": NOPE is not set here');
  });
});
