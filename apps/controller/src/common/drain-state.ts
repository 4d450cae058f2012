import { Injectable } from '@nestjs/common';

/**
 * Whether this controller is draining (SIGTERM received, sessions in progress finishing). `GET /v1/` then answers
 * 503, so that a load balancer checking it sends new clients to the other replicas (docs/high-availability.md).
 */
@Injectable()
export class DrainState {
  private drainingSince: Date | undefined;

  get draining(): boolean {
    return this.drainingSince !== undefined;
  }

  begin(): void {
    this.drainingSince ??= new Date();
  }
}
