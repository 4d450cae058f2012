// The worker process (registration, gRPC session, reconciliation, runtimes) arrives with the worker issue; for now
// the package holds the pieces it will be built from.
export { parseIoregPlatformUuid, readMachineId } from './machine-id';
export * from './reconcile/transition-table';
export * from './reconcile/on-disk-name';
export * from './install/service-files';
