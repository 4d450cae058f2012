// Original file: libs/proto/proto/grove/worker/v1/worker.proto


/**
 * A command to run in a VM. The worker asks the VM's guest agent (`/Agent/Exec` on its control.sock) and falls back to
 * SSH with `username`/`password` when the agent does not answer.
 */
export interface ExecStart {
  /**
   * Unique id of the exec session, for logs on both sides.
   */
  'session'?: (string);
  /**
   * The VM incarnation (`uid`) to run in.
   */
  'vm_uid'?: (string);
  /**
   * The program and its arguments, run without a shell (argv[0] is looked up in the guest's PATH).
   */
  'argv'?: (string)[];
  /**
   * The command reads stdin (`ExecInput.stdin`); without it, stdin is empty.
   */
  'interactive'?: (boolean);
  /**
   * Run on a pseudo-terminal of `rows` × `cols`; stdout and stderr then arrive merged as stdout.
   */
  'tty'?: (boolean);
  'rows'?: (number);
  'cols'?: (number);
  /**
   * Environment variables set for the command.
   */
  'env'?: ({[key: string]: string});
  /**
   * Working directory; empty for the login's default.
   */
  'workdir'?: (string);
  /**
   * Login for the SSH fallback.
   */
  'username'?: (string);
  'password'?: (string);
  /**
   * W3C trace context of the controller's span of this exec session, as `TunnelOpen.traceparent`.
   */
  'traceparent'?: (string);
}

/**
 * A command to run in a VM. The worker asks the VM's guest agent (`/Agent/Exec` on its control.sock) and falls back to
 * SSH with `username`/`password` when the agent does not answer.
 */
export interface ExecStart__Output {
  /**
   * Unique id of the exec session, for logs on both sides.
   */
  'session': (string);
  /**
   * The VM incarnation (`uid`) to run in.
   */
  'vm_uid': (string);
  /**
   * The program and its arguments, run without a shell (argv[0] is looked up in the guest's PATH).
   */
  'argv': (string)[];
  /**
   * The command reads stdin (`ExecInput.stdin`); without it, stdin is empty.
   */
  'interactive': (boolean);
  /**
   * Run on a pseudo-terminal of `rows` × `cols`; stdout and stderr then arrive merged as stdout.
   */
  'tty': (boolean);
  'rows': (number);
  'cols': (number);
  /**
   * Environment variables set for the command.
   */
  'env': ({[key: string]: string});
  /**
   * Working directory; empty for the login's default.
   */
  'workdir': (string);
  /**
   * Login for the SSH fallback.
   */
  'username': (string);
  'password': (string);
  /**
   * W3C trace context of the controller's span of this exec session, as `TunnelOpen.traceparent`.
   */
  'traceparent': (string);
}
