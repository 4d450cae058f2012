/** The Grove release; one number for the controller, the worker, the CLI and the client library. */
export const GROVE_VERSION = '0.1.0';
