/** API resource types, from the resources library (type-only imports: nothing of it is bundled). */
export type {
  Vm,
  VmCondition,
  VmEvent,
  Worker,
  WatchMessage,
  VmStatus,
  PowerState,
  RestartPolicy,
} from '@grove/resources';
