import { join } from 'node:path';
import {
  type CallOptions,
  type Client,
  type ClientDuplexStream,
  type ClientUnaryCall,
  type handleBidiStreamingCall,
  type handleUnaryCall,
  type Metadata,
  type ServiceDefinition,
  type ServiceError,
  type UntypedServiceImplementation,
  loadPackageDefinition,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';

/**
 * Absolute path of the Tart Guest Agent protocol (tart.md §4.2). It has no `package`, so its methods are `/Agent/Exec`
 * and `/Agent/ResolveIP`. Works from src/ and dist/: both sit one level below the package.
 */
export const TART_AGENT_PROTO = join(__dirname, '..', 'proto', 'tart', 'agent.proto');

// The types below mirror agent.proto as proto-loader decodes it with the options of loadTartAgentProtocol(). They are
// written by hand because proto-loader-gen-types names its root file after the .proto (`agent.ts`) and the service file
// after the service (`Agent.ts`): the two collide on macOS's case-insensitive file system, where the worker is built.
// tart-agent.spec.ts checks them against the loaded definition.

/** Pseudo-terminal dimensions. */
export interface TartTerminalSize {
  rows: number;
  cols: number;
}

/** A piece of stdin/stdout/stderr. */
export interface TartIOChunk {
  data: Buffer;
}

/** ExecRequest.Command: what to start (fields 6–8 need a 2026-05+ agent). */
export interface TartExecCommand {
  name: string;
  args: string[];
  interactive: boolean;
  tty: boolean;
  terminal_size: TartTerminalSize | null;
  detach: boolean;
  env: Record<string, string>;
  workdir: string;
}

/** A client message of Exec, as received (`type` names the oneof case that is set). */
export type TartExecRequest =
  | { type: 'command'; command: TartExecCommand }
  | { type: 'standard_input'; standard_input: TartIOChunk }
  | { type: 'terminal_resize'; terminal_resize: TartTerminalSize };

/** A client message of Exec, as sent: set exactly one case; unset fields take their proto3 defaults. */
export type TartExecRequestInput =
  { command: Partial<TartExecCommand> } | { standard_input: TartIOChunk } | { terminal_resize: TartTerminalSize };

/** A server message of Exec, as received. */
export type TartExecResponse =
  | { type: 'exit'; exit: { code: number } }
  | { type: 'standard_output'; standard_output: TartIOChunk }
  | { type: 'standard_error'; standard_error: TartIOChunk };

/** A server message of Exec, as sent. */
export type TartExecResponseInput =
  { exit: { code: number } } | { standard_output: TartIOChunk } | { standard_error: TartIOChunk };

/** ResolveIP's answer. */
export interface TartResolveIPResponse {
  ip: string;
}

/** ResolveIP takes no parameters. */
export type TartResolveIPRequest = Record<string, never>;

/** A client of the `Agent` service. */
export interface TartAgentClient extends Client {
  Exec(metadata?: Metadata, options?: CallOptions): ClientDuplexStream<TartExecRequestInput, TartExecResponse>;
  ResolveIP(
    request: TartResolveIPRequest,
    options: CallOptions,
    callback: (error: ServiceError | null, response?: TartResolveIPResponse) => void,
  ): ClientUnaryCall;
}

/** What a server of the `Agent` service implements. */
export interface TartAgentHandlers extends UntypedServiceImplementation {
  Exec: handleBidiStreamingCall<TartExecRequest, TartExecResponseInput>;
  ResolveIP: handleUnaryCall<TartResolveIPRequest, TartResolveIPResponse>;
}

/** The `Agent` service constructor and definition as loadPackageDefinition returns them. */
export interface TartAgentProtocol {
  Agent: (new (...args: ConstructorParameters<typeof Client>) => TartAgentClient) & { service: ServiceDefinition };
}

let loadedTartAgentProtocol: TartAgentProtocol | undefined;

/**
 * Loads the agent protocol. Numbers stay numbers (`longs: Number`), field names keep their snake_case, every field has
 * its default and each oneof reports its case in `type`.
 */
export function loadTartAgentProtocol(): TartAgentProtocol {
  // Parsed once per process: the synthetic runtime serves the agent in every VM it boots, and parsing the .proto took
  // a fifth of a synthetic worker's CPU while it started VMs (issue 13). The definition is only read.
  loadedTartAgentProtocol ??= loadPackageDefinition(
    loadSync(TART_AGENT_PROTO, { keepCase: true, longs: Number, defaults: true, oneofs: true }),
  ) as unknown as TartAgentProtocol;
  return loadedTartAgentProtocol;
}
