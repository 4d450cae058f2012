import type { EventKind } from './enums';

/** A VM event; `timestamp` is in Unix seconds (orchard.md §1.7). */
export interface VmEvent {
  kind: EventKind;
  timestamp: number;
  payload: string;
}

/** One line of the NDJSON watch stream of `GET /v1/vms/{name}?watch=true`. */
export interface WatchMessage<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: T;
}
