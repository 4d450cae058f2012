import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  IsArray,
  IsIn,
  IsInt,
  IsNotEmpty,
  IsNumber,
  IsOptional,
  IsString,
  Max,
  Min,
  registerDecorator,
  type ValidationArguments,
} from 'class-validator';
import type { ExecRequest } from '@grove/resources';
import { checkExecEnv } from './exec-query';

/** An object of environment variables: names as Orchard allows them, string values without NUL. */
function IsExecEnv(): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({
      name: 'isExecEnv',
      target: target.constructor,
      propertyName: propertyName as string,
      validator: {
        validate: (value: unknown) =>
          typeof value === 'object' &&
          value !== null &&
          !Array.isArray(value) &&
          Object.values(value).every((v) => typeof v === 'string') &&
          checkExecEnv(value as Record<string, string>) === undefined,
        defaultMessage: (args?: ValidationArguments) => {
          const value = args?.value as unknown;
          if (typeof value !== 'object' || value === null || Array.isArray(value)) {
            return 'env must be an object mapping variable names to strings';
          }
          if (!Object.values(value).every((v) => typeof v === 'string')) {
            return 'env values must be strings';
          }
          return `${checkExecEnv(value as Record<string, string>)} in env`;
        },
      },
    });
}

/** A string without NUL characters (they cannot reach a process's arguments or directory). */
function HasNoNul(): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({
      name: 'hasNoNul',
      target: target.constructor,
      propertyName: propertyName as string,
      options: { message: `${String(propertyName)} cannot contain NUL characters`, each: true },
      validator: { validate: (value: unknown) => typeof value !== 'string' || !value.includes('\0') },
    });
}

/** Body of `POST /v1/vms/{name}/exec`. */
export class ExecRequestDto implements ExecRequest {
  @ApiProperty({ description: 'Program to run in the VM (looked up in its PATH); no shell is involved.' })
  @IsString()
  @IsNotEmpty()
  @HasNoNul()
  command!: string;

  @ApiPropertyOptional({ description: 'Arguments of the program.', type: [String] })
  @IsOptional()
  @IsArray()
  @IsString({ each: true })
  @HasNoNul()
  args?: string[];

  @ApiPropertyOptional({
    description:
      'Everything the program reads on stdin (UTF-8 text, or base64 with stdinEncoding "base64"); none = empty.',
  })
  @IsOptional()
  @IsString()
  stdin?: string;

  @ApiPropertyOptional({ description: 'How `stdin` is encoded (default utf8).', enum: ['utf8', 'base64'] })
  @IsOptional()
  @IsIn(['utf8', 'base64'])
  stdinEncoding?: 'utf8' | 'base64';

  @ApiPropertyOptional({
    description: 'Environment variables; names match ^[A-Za-z_][A-Za-z0-9_]*$.',
    type: 'object',
    additionalProperties: { type: 'string' },
  })
  @IsOptional()
  @IsExecEnv()
  env?: Record<string, string>;

  @ApiPropertyOptional({ description: 'Working directory of the program.' })
  @IsOptional()
  @IsString()
  @HasNoNul()
  workdir?: string;

  @ApiPropertyOptional({
    description: 'Seconds the program may run before it is killed (an `error` event says so); 0 = no limit.',
  })
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  timeout?: number;

  @ApiPropertyOptional({
    description: 'Seconds to wait for the VM to run and its worker to start the program (0–65535, default 10).',
  })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(65535)
  wait?: number;
}

/** One line of the NDJSON answer of `POST /v1/vms/{name}/exec` (documentation only). */
export class ExecEventDto {
  @ApiProperty({
    description: 'What happened: `started`, then output (`stdout`/`stderr`), then `exit` or `error`.',
    enum: ['started', 'stdout', 'stderr', 'exit', 'error'],
  })
  event!: string;

  @ApiPropertyOptional({ description: '`started`: how the worker runs the program.', enum: ['agent', 'ssh'] })
  via?: string;

  @ApiPropertyOptional({ description: '`stdout`/`stderr`: output as UTF-8 text (or base64, see `encoding`).' })
  data?: string;

  @ApiPropertyOptional({ description: '`base64` when the output chunk is not valid UTF-8.', enum: ['base64'] })
  encoding?: string;

  @ApiPropertyOptional({ description: '`exit`: the exit status.' })
  code?: number;

  @ApiPropertyOptional({ description: '`error`: why the program has no exit status (killed, timed out, lost).' })
  message?: string;
}
