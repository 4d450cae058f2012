import { Column, Entity, PrimaryColumn } from 'typeorm';

@Entity({ name: 'workers' })
export class WorkerEntity {
  @PrimaryColumn({ type: 'text' })
  name!: string;

  @Column({ name: 'machine_id', type: 'text' })
  machineId!: string;

  @Column({ name: 'last_seen', type: 'timestamptz' })
  lastSeen!: Date;

  @Column({ name: 'scheduling_paused', type: 'boolean' })
  schedulingPaused!: boolean;

  @Column({ type: 'jsonb' })
  resources!: Record<string, number>;

  @Column({ type: 'jsonb' })
  labels!: Record<string, string>;

  @Column({
    name: 'default_cpu',
    type: 'bigint',
    transformer: { to: (v: number) => v, from: (v: string) => Number(v) },
  })
  defaultCpu!: number;

  @Column({
    name: 'default_memory',
    type: 'bigint',
    transformer: { to: (v: number) => v, from: (v: string) => Number(v) },
  })
  defaultMemory!: number;

  @Column({ type: 'text' })
  arch!: string;

  @Column({ type: 'text' })
  runtime!: string;

  /** What the worker reported it can do (`Worker.capabilities`), replaced at every registration. */
  @Column({ type: 'jsonb' })
  capabilities!: string[];

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;
}
