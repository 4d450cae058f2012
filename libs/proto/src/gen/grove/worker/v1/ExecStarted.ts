// Original file: libs/proto/proto/grove/worker/v1/worker.proto


export interface ExecStarted {
  'via'?: (string);
}

export interface ExecStarted__Output {
  'via': (string);
}
