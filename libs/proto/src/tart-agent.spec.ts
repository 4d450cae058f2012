import { loadSync } from '@grpc/proto-loader';
import { loadTartAgentProtocol, TART_AGENT_PROTO } from './tart-agent';

interface DescriptorShape {
  name?: string;
  field: { name: string }[];
  nestedType?: DescriptorShape[];
}

/** The field names tart-agent.ts's hand-written types assume, per message. */
const EXPECTED_FIELDS: Record<string, string[]> = {
  ExecRequest: ['command', 'standard_input', 'terminal_resize'],
  'ExecRequest.Command': ['name', 'args', 'interactive', 'tty', 'terminal_size', 'detach', 'env', 'workdir'],
  ExecResponse: ['exit', 'standard_output', 'standard_error'],
  'ExecResponse.Exit': ['code'],
  TerminalSize: ['rows', 'cols'],
  IOChunk: ['data'],
  ResolveIPRequest: [],
  ResolveIPResponse: ['ip'],
};

describe('Tart Guest Agent protocol', () => {
  it('has no package, so the method paths are the ones real agents serve', () => {
    const paths = Object.values(loadTartAgentProtocol().Agent.service).map((method) => method.path);
    expect(paths.sort()).toEqual(['/Agent/Exec', '/Agent/ResolveIP']);
  });

  it('has exactly the fields the hand-written types mirror', () => {
    const definition = loadSync(TART_AGENT_PROTO, { keepCase: true });
    for (const [message, fields] of Object.entries(EXPECTED_FIELDS)) {
      const [outer, nested] = message.split('.');
      const outerType = (definition[outer] as unknown as { type: DescriptorShape }).type;
      const type = nested === undefined ? outerType : outerType.nestedType?.find((t) => t.name === nested);
      const names = type?.field.map((f) => f.name).join(',');
      expect(`${message}: ${names}`).toBe(`${message}: ${fields.join(',')}`);
    }
  });
});
