import { execFileSync } from 'node:child_process';
import { agentCommand, commandLine, signalExitCode, withOptions } from './exec-command';

const NONE = { env: {}, workdir: '' };

describe('commandLine', () => {
  it('quotes only the words that need it, and the shell gets the argv back exactly', () => {
    const argv = ['printf', '%s|', 'plain', "O'Reilly", '$HOME', 'a b', '*', ''];
    expect(commandLine(argv)).toBe(`printf '%s|' plain 'O'\\''Reilly' '$HOME' 'a b' '*' ''`);
    expect(execFileSync('/bin/sh', ['-c', commandLine(argv)]).toString()).toBe(`plain|O'Reilly|$HOME|a b|*||`);
  });
});

describe('withOptions', () => {
  it('leaves a command without options alone', () => {
    expect(withOptions('ls -l', NONE)).toBe('ls -l');
  });

  it('changes directory and exports sorted variables in Orchard’s form', () => {
    expect(withOptions('env', { env: { B: "O'Reilly", A: '1' }, workdir: '/tmp/x y' })).toBe(
      `cd '/tmp/x y' || exit $?\nexport A='1'\nexport B='O'\\''Reilly'\nenv`,
    );
  });
});

describe('agentCommand', () => {
  it('runs the argv directly without options', () => {
    expect(agentCommand(['ls', '-l'], NONE)).toEqual({ name: 'ls', args: ['-l'] });
  });

  it('goes through /bin/sh with env or workdir, and the argv arrives unchanged', () => {
    const options = { env: { NAME: "O'Reilly" }, workdir: '/tmp' };
    const literal = agentCommand(['printf', '%s|%s|', '$NAME', "it's"], options);
    expect(literal.name).toBe('/bin/sh');
    expect(execFileSync(literal.name, literal.args).toString()).toBe(`$NAME|it's|`);
    const shell = agentCommand(['sh', '-c', 'printf "%s|%s" "$(pwd)" "$NAME"'], options);
    expect(execFileSync(shell.name, shell.args).toString()).toBe(`/tmp|O'Reilly`);
  });
});

describe('signalExitCode', () => {
  it('is 128 plus the signal number', () => {
    expect(signalExitCode('KILL')).toBe(137);
    expect(signalExitCode('SIGTERM')).toBe(143);
    expect(signalExitCode('NOPE')).toBe(255);
  });
});
