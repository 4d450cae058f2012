// Everything the command actions run, gathered so that program.ts can load it in one lazy require.
export * from './bootstrap-token.commands';
export * from './connect.commands';
export * from './context.commands';
export * from './controller.commands';
export * from './dev.commands';
export * from './exec.commands';
export * from './io';
export * from './resource.commands';
export * from './ssh-key.commands';
export * from './worker-install.commands';
export * from './worker.commands';
