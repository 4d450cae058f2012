// Original file: libs/proto/proto/grove/worker/v1/worker.proto


export interface ExecExit {
  'code'?: (number);
}

export interface ExecExit__Output {
  'code': (number);
}
