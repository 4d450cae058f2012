import { ApiProperty } from '@nestjs/swagger';
import { ValidateBy } from 'class-validator';

/** One message whatever is wrong with the port (a string, a fraction, out of range). */
const IsPort = () =>
  ValidateBy({
    name: 'isPort',
    validator: {
      validate: (value: unknown) => Number.isInteger(value) && (value as number) >= 1 && (value as number) <= 65535,
      defaultMessage: () => 'port must be an integer from 1 to 65535',
    },
  });

export class PreviewCreateDto {
  @ApiProperty({ description: 'The VM port serving HTTP (1–65535).', example: 8080 })
  @IsPort()
  port!: number;
}

export class PreviewDto {
  @ApiProperty({
    description:
      'Path of the preview on this controller (any replica): HTTP under it reaches the VM port, without credentials.',
    example: '/preview/eyJ2IjoidyJ9.S2lnbmF0dXJl/',
  })
  url!: string;

  @ApiProperty({ description: 'When the link stops working (RFC 3339), one hour after it was made.' })
  expiresAt!: string;
}
