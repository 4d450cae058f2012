/** The Grove release this controller belongs to. */
export const GROVE_VERSION = '0.1.0';
