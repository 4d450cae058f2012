/**
 * The controller↔worker protocol. Its `.proto` files and generated TypeScript arrive with the worker issue; the
 * package name is fixed now so that every later version is negotiated against it (STYLE.md: version from day one).
 */
export const WORKER_PROTOCOL_PACKAGE = 'grove.worker.v1';
