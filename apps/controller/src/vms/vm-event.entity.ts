import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';

@Entity({ name: 'vm_events' })
export class VmEventEntity {
  /** Monotonic; the pagination cursor is derived from it. */
  @PrimaryGeneratedColumn({ type: 'bigint' })
  id!: string;

  @Column({ name: 'vm_uid', type: 'uuid' })
  vmUid!: string;

  @Column({ type: 'text' })
  kind!: string;

  @Column({ type: 'bigint', transformer: { to: (v: number) => v, from: (v: string) => Number(v) } })
  timestamp!: number;

  @Column({ type: 'text' })
  payload!: string;
}
