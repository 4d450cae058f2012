import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsNotEmpty, IsOptional, IsString, MaxLength } from 'class-validator';
import { MAX_PUBLIC_KEY_LENGTH, MAX_SSH_KEY_COMMENT_LENGTH } from './ssh-public-key';

export class SshKeyCreateDto {
  @ApiProperty({
    description:
      'One OpenSSH public key line, as in a `.pub` file: `ssh-ed25519 AAAA… comment` (ed25519, ECDSA or RSA). ' +
      'Private keys are refused.',
  })
  @IsString()
  @IsNotEmpty({ message: 'publicKey must not be empty' })
  @MaxLength(MAX_PUBLIC_KEY_LENGTH)
  publicKey!: string;

  @ApiPropertyOptional({ description: 'Free text shown in lists; default: the comment of the key line.' })
  @IsOptional()
  @IsString()
  @MaxLength(MAX_SSH_KEY_COMMENT_LENGTH)
  comment?: string;
}

export class SshKeyResponseDto {
  @ApiProperty({ description: 'OpenSSH SHA-256 fingerprint, `SHA256:<base64>` (as `ssh-keygen -l` prints it).' })
  fingerprint!: string;

  @ApiProperty({ description: 'Key algorithm, e.g. `ssh-ed25519`.' })
  type!: string;

  @ApiProperty({ description: 'The key in `authorized_keys` form, `<type> <base64>`.' })
  publicKey!: string;

  @ApiProperty({ description: 'Comment of the key.' })
  comment!: string;

  @ApiProperty({ description: 'When the key was attached (RFC 3339).' })
  createdAt!: string;
}
