/**
 * Wire types of exec: the JSON frames of the `GET /v1/vms/{name}/exec` WebSocket (Orchard's execstream.Frame,
 * orchard.md §1.5) and the body and NDJSON events of `POST /v1/vms/{name}/exec`.
 */

/** Frame types a client sends on the exec WebSocket. `history`, `ack`, `detach` and `close` need a `session`. */
export const EXEC_CLIENT_FRAME_TYPES = ['stdin', 'resize', 'history', 'ack', 'detach', 'close'] as const;
/** Frame types the controller sends. */
export const EXEC_SERVER_FRAME_TYPES = ['stdout', 'stderr', 'exit', 'error', 'no_more_history'] as const;

export type ExecClientFrameType = (typeof EXEC_CLIENT_FRAME_TYPES)[number];
export type ExecServerFrameType = (typeof EXEC_SERVER_FRAME_TYPES)[number];

/** Rows and columns of a terminal. */
export interface ExecTerminal {
  rows: number;
  cols: number;
}

/**
 * One text message of the exec WebSocket: `{"type": …}` plus the fields that type uses. `data` is base64 (standard
 * alphabet); for `stdin` an empty or absent `data` is end of file. `watermark` numbers output frames of reconnectable
 * sessions from 1 and is omitted when 0. A client frame the controller refuses gets an `error` frame (no watermark)
 * and the socket is closed with 1008 (Orchard drops the connection silently).
 */
export interface ExecFrame {
  type: ExecClientFrameType | ExecServerFrameType;
  data?: string;
  terminal?: ExecTerminal;
  exit?: { code: number };
  error?: string;
  watermark?: number;
}

/** Query parameters of `GET /v1/vms/{name}/exec` as the client library takes them. */
export interface ExecSessionParams {
  /** Shell command line (run with `/bin/sh -c`); required unless attaching to an existing `session`. */
  command?: string;
  /** A stable id: makes the session reconnectable (it survives the WebSocket) and lets a client attach again. */
  session?: string;
  /** Send stdin frames. */
  interactive?: boolean;
  /** Run on a pseudo-terminal (implies interactive); `rows` and `cols` together give its size. */
  tty?: boolean;
  rows?: number;
  cols?: number;
  env?: Record<string, string>;
  workdir?: string;
  /** Seconds to wait for the VM to run and the command to start (the API's default is 10). */
  wait?: number;
}

/** Body of `POST /v1/vms/{name}/exec`: a program and its arguments, run without a shell. */
export interface ExecRequest {
  command: string;
  args?: string[];
  /** Everything the command reads on stdin (UTF-8 text, or base64 with `stdinEncoding: "base64"`); none = empty stdin. */
  stdin?: string;
  stdinEncoding?: 'utf8' | 'base64';
  env?: Record<string, string>;
  workdir?: string;
  /** Seconds the command may run before it is killed (an `error` event says so); 0 or absent = no limit. */
  timeout?: number;
  /** Seconds to wait for the VM to run and the command to start (default 10). */
  wait?: number;
}

/**
 * One line of the NDJSON response of `POST /v1/vms/{name}/exec`. Output `data` is UTF-8 text, or base64 with
 * `"encoding": "base64"` when the chunk is not valid UTF-8. The stream ends after `exit` or `error`.
 */
export type ExecEvent =
  | { event: 'started'; via: 'agent' | 'ssh' }
  | { event: 'stdout' | 'stderr'; data: string; encoding?: 'base64' }
  | { event: 'exit'; code: number }
  | { event: 'error'; message: string };
