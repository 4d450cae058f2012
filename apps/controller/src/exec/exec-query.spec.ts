import { DomainError } from '../common/domain-error';
import { parseExecQuery, sameCommandSpec } from './exec-query';

const parse = (query: string) => parseExecQuery(new URLSearchParams(query));

function messageOf(query: string): string {
  try {
    parse(query);
  } catch (err) {
    expect(err).toBeInstanceOf(DomainError);
    return (err as DomainError).message;
  }
  throw new Error(`"${query}" was accepted`);
}

describe('exec query parameters (Orchard api_vms_exec.go)', () => {
  it('needs a command or a session', () => {
    expect(messageOf('')).toBe('"command" parameter cannot be empty');
    expect(messageOf('command=')).toBe('"command" parameter cannot be empty');
    expect(parse('session=s1')).toEqual({ session: 's1', waitSeconds: 10 });
    expect(parse('cmux_session_id=s2').session).toBe('s2');
    expect(parse('session=a&cmux_session_id=b').session).toBe('a');
  });

  it('reads a full spec', () => {
    expect(
      parse('command=echo+hi&tty=true&rows=24&cols=80&env[GREETING]=hello&env[B]=x&workdir=/tmp&wait=30&session=z'),
    ).toEqual({
      spec: {
        command: 'echo hi',
        interactive: true,
        tty: true,
        rows: 24,
        cols: 80,
        env: { GREETING: 'hello', B: 'x' },
        workdir: '/tmp',
      },
      session: 'z',
      waitSeconds: 30,
    });
  });

  it.each([
    ['', false],
    ['interactive=true', true],
    ['interactive=1', true],
    ['interactive=T', true],
    ['interactive=False', false],
    ['stdin=true', true],
    ['stdin=t&interactive=TRUE', true],
    ['stdin=0&interactive=f', false],
    ['tty=1', true],
  ])('interactive from "%s" is %s', (query, interactive) => {
    expect(parse(`command=x&${query}`).spec?.interactive).toBe(interactive);
  });

  it.each([
    ['interactive=true&stdin=false', '"interactive" and "stdin" parameters cannot conflict'],
    ['interactive=yes', '"interactive" parameter must be a boolean'],
    ['stdin=on', '"stdin" parameter must be a boolean'],
    ['tty=2', '"tty" parameter must be a boolean'],
    ['rows=24', '"rows" and "cols" must be provided together'],
    ['cols=80', '"rows" and "cols" must be provided together'],
    ['rows=-1&cols=80', '"rows" parameter must be an unsigned 32-bit integer'],
    ['rows=24&cols=4294967296', '"cols" parameter must be an unsigned 32-bit integer'],
    ['env[1X]=y', 'invalid environment variable name "1X"'],
    ['env[A-B]=y', 'invalid environment variable name "A-B"'],
    ['env[A]=x%00y', 'environment variable "A" cannot contain NUL characters'],
    ['workdir=/t%00mp', '"workdir" parameter cannot contain NUL characters'],
    ['wait=-1', '"wait" parameter must be an integer from 0 to 65535 (seconds)'],
    ['wait=65536', '"wait" parameter must be an integer from 0 to 65535 (seconds)'],
    ['wait=abc', '"wait" parameter must be an integer from 0 to 65535 (seconds)'],
  ])('rejects %s', (query, message) => {
    expect(messageOf(`command=x&${query}`)).toBe(message);
  });

  it('reads detachTimeout (a Grove extension) for reconnectable sessions only', () => {
    expect(parse('command=x&session=s&detachTimeout=300').detachTimeoutSeconds).toBe(300);
    expect(parse('command=x&session=s').detachTimeoutSeconds).toBeUndefined();
    const range = '"detachTimeout" parameter must be an integer from 1 to 86400 (seconds)';
    for (const bad of ['0', '86401', '-5', '1.5', 'abc', '']) {
      expect(messageOf(`command=x&session=s&detachTimeout=${bad}`)).toBe(range);
    }
    expect(messageOf('command=x&detachTimeout=5')).toBe(
      '"detachTimeout" parameter needs a reconnectable session (a "session" parameter)',
    );
  });

  it('reads env like gin QueryMap: the name between the brackets, env[] ignored', () => {
    expect(parse('command=x&env[]=a&env[A]b=c&envX=d').spec?.env).toEqual({ A: 'c' });
  });

  it('compares specs as Orchard specMatches does (env as a set)', () => {
    const a = parse('command=x&env[A]=1&env[B]=2').spec!;
    const b = parse('command=x&env[B]=2&env[A]=1').spec!;
    expect(sameCommandSpec(a, b)).toBe(true);
    expect(sameCommandSpec(a, parse('command=x&env[A]=1').spec!)).toBe(false);
    expect(sameCommandSpec(a, parse('command=x&env[A]=1&env[B]=2&tty=1').spec!)).toBe(false);
    expect(sameCommandSpec(a, parse('command=y&env[A]=1&env[B]=2').spec!)).toBe(false);
  });
});
