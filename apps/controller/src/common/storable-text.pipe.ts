import { type ArgumentMetadata, Injectable, type PipeTransform } from '@nestjs/common';
import { DomainError, DomainErrorCode } from './domain-error';
import { findUnstorableText } from './storable-text';

const UNSTORABLE = 'must not contain NUL characters or invalid Unicode';

/**
 * Global pipe (issue 12, item 5): text Postgres cannot hold never reaches a repository. A path parameter with such
 * text names something that cannot exist (names are `[A-Za-z0-9:-_.]`), so the answer is 404 as for any unknown
 * name; in a query parameter or a body it is invalid input (400), naming the field.
 */
@Injectable()
export class StorableTextPipe implements PipeTransform {
  transform(value: unknown, metadata: ArgumentMetadata): unknown {
    if (metadata.type === 'custom') {
      return value;
    }
    const field = findUnstorableText(value, metadata.data ?? '');
    if (field === undefined) {
      return value;
    }
    if (metadata.type === 'param') {
      throw new DomainError(DomainErrorCode.NotFound, `${JSON.stringify(value)} not found: no name contains NUL`);
    }
    const name = field === '' ? metadata.type : field;
    throw DomainError.invalid([{ field: name, message: UNSTORABLE }]);
  }
}
