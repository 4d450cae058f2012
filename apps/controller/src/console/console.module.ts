import { Module } from '@nestjs/common';
import { ConsoleController } from './console.controller';
import { SessionController } from './session.controller';

/** The web console's static files and the session it asks for after sign-in (issue 16). */
@Module({ controllers: [ConsoleController, SessionController] })
export class ConsoleModule {}
