export { runController, type RunningController } from './run-controller';
export { loadControllerConfig, type ControllerConfig } from './infra/config/controller-config';
