// Original file: libs/proto/proto/grove/worker/v1/worker.proto


export interface ExecTerminalSize {
  'rows'?: (number);
  'cols'?: (number);
}

export interface ExecTerminalSize__Output {
  'rows': (number);
  'cols': (number);
}
