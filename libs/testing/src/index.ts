export * from './free-port';
export * from './postgres';
export * from './database';
export * from './wait';
export * from './certificates';
export * from './process';
export * from './streams';
