export * from './postgres';
export * from './database';
export * from './wait';
