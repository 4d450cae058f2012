import { Module } from '@nestjs/common';
import { ConsoleController } from './console.controller';

/** Serves the web console's static files (issue 16). */
@Module({ controllers: [ConsoleController] })
export class ConsoleModule {}
