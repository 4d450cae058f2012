export { GROVE_VERSION } from '@grove/resources';
