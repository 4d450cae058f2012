import { readFileSync } from 'node:fs';
import {
  encodeBootstrapToken,
  nameFollowsFutureRule,
  parseHostDirPolicy,
  type Role,
  type SchedulerProfile,
} from '@grove/resources';
import { UsageError } from '../cli.errors';
import {
  renderClusterSettings,
  renderMachine,
  renderServiceAccount,
  renderServiceAccountTable,
  renderVm,
  renderVmTable,
  renderWorker,
  renderWorkerTable,
  type OutputFormat,
} from '../output/render';
import { buildVmCreateInput, splitList, type VmCreateFlags } from '../vm-create-flags';
import type { CommandIo, GlobalOptions } from './io';
import { currentConnection, withClient } from './session';

export interface OutputOptions extends GlobalOptions {
  output: OutputFormat;
}

/** Prints `value` as JSON/YAML when asked, otherwise the human rendering. */
function print<T>(io: CommandIo, options: OutputOptions, value: T, human: (value: T) => string): void {
  io.out(options.output === 'table' ? human(value) : renderMachine(value, options.output));
}

export async function createVm(io: CommandIo, name: string, flags: VmCreateFlags & OutputOptions): Promise<void> {
  const input = buildVmCreateInput(name, flags, (path) => readFileSync(path, 'utf8'));
  if (!nameFollowsFutureRule(name)) {
    io.err(
      `Warning: VM name "${name}" will not be accepted by a future version: use at most 63 characters of ` +
        'a-z, 0-9 and "-", starting and ending with a letter or digit.\n',
    );
  }
  const vm = await withClient(io, flags, (client) => client.vms.create(input));
  print(io, flags, vm, (v) => `VM "${v.name}" created (status ${v.status}).\n`);
}

export interface ServiceAccountCreateOptions extends OutputOptions {
  roles?: Role[];
  token?: string;
}

export async function createServiceAccount(
  io: CommandIo,
  name: string,
  options: ServiceAccountCreateOptions,
): Promise<void> {
  const account = await withClient(io, options, (client) =>
    client.serviceAccounts.create({
      name,
      roles: options.roles ?? [],
      ...(options.token ? { token: options.token } : {}),
    }),
  );
  print(io, options, account, (sa) => {
    const roles = sa.roles.length > 0 ? `roles ${sa.roles.join(', ')}` : 'no roles';
    // An account that can run workers gets its bootstrap token now: later it can only be built again from the
    // token (`grove get bootstrap-token --token`), since the controller keeps only a hash.
    const certificatePem = currentConnection(io, options).certificatePem;
    const bootstrap =
      sa.token !== undefined && sa.roles.includes('compute:write')
        ? `Bootstrap token for workers: ${encodeBootstrapToken({
            serviceAccountName: sa.name,
            serviceAccountToken: sa.token,
            ...(certificatePem !== undefined ? { certificatePem } : {}),
          })}\n`
        : '';
    return (
      `Service account "${sa.name}" created with ${roles}.\n` +
      `Token: ${sa.token ?? '(not returned by the controller)'}\n` +
      bootstrap +
      'Store the token now: it is not shown again.\n'
    );
  });
}

export async function getVm(io: CommandIo, name: string, options: OutputOptions): Promise<void> {
  const vm = await withClient(io, options, (client) => client.vms.get(name));
  print(io, options, vm, (v) => renderVm(v, io.now()));
}

export async function getWorker(io: CommandIo, name: string, options: OutputOptions): Promise<void> {
  const worker = await withClient(io, options, (client) => client.workers.get(name));
  print(io, options, worker, (w) => renderWorker(w, io.now()));
}

export async function getServiceAccount(io: CommandIo, name: string, options: OutputOptions): Promise<void> {
  const account = await withClient(io, options, (client) => client.serviceAccounts.get(name));
  print(io, options, account, (sa) => renderServiceAccount(sa, io.now()));
}

export async function getClusterSettings(io: CommandIo, options: OutputOptions): Promise<void> {
  const settings = await withClient(io, options, (client) => client.clusterSettings.get());
  print(io, options, settings, renderClusterSettings);
}

export async function listVms(io: CommandIo, options: OutputOptions): Promise<void> {
  const vms = await withClient(io, options, (client) => client.vms.list());
  print(io, options, vms, (list) => renderVmTable(list, io.now()));
}

export async function listWorkers(io: CommandIo, options: OutputOptions): Promise<void> {
  const workers = await withClient(io, options, (client) => client.workers.list());
  print(io, options, workers, (list) => renderWorkerTable(list, io.now()));
}

export async function listServiceAccounts(io: CommandIo, options: OutputOptions): Promise<void> {
  const accounts = await withClient(io, options, (client) => client.serviceAccounts.list());
  print(io, options, accounts, (list) => renderServiceAccountTable(list, io.now()));
}

export type ResourceKind = 'vm' | 'worker' | 'service-account';

export async function deleteResource(
  io: CommandIo,
  kind: ResourceKind,
  name: string,
  options: GlobalOptions,
): Promise<void> {
  await withClient(io, options, (client) => {
    switch (kind) {
      case 'vm':
        return client.vms.delete(name);
      case 'worker':
        return client.workers.delete(name);
      case 'service-account':
        return client.serviceAccounts.delete(name);
    }
  });
  const label = { vm: 'VM', worker: 'Worker', 'service-account': 'Service account' }[kind];
  io.out(`${label} "${name}" deleted.\n`);
}

export interface LogsOptions extends GlobalOptions {
  tail?: number;
}

/** Prints the payloads of a VM's log events, oldest first; `--tail N` prints only the newest N. */
export async function logsVm(io: CommandIo, name: string, options: LogsOptions): Promise<void> {
  const events = await withClient(io, options, async (client) => {
    if (options.tail !== undefined) {
      const page = await client.vms.events(name, { limit: options.tail, order: 'desc' });
      return page.items.reverse();
    }
    return client.vms.allEvents(name);
  });
  for (const event of events) {
    if (event.kind === 'log_line') {
      io.out(`${event.payload}\n`);
    }
  }
}

export interface SetClusterSettingsOptions extends OutputOptions {
  hostDirPolicies?: string[];
  schedulerProfile?: SchedulerProfile;
}

/** Appends host-directory policies and/or sets the scheduler profile, keeping everything else. */
export async function setClusterSettings(io: CommandIo, options: SetClusterSettingsOptions): Promise<void> {
  const policies = splitList(options.hostDirPolicies ?? []).map((text) => {
    try {
      return parseHostDirPolicy(text);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  });
  if (policies.length === 0 && options.schedulerProfile === undefined) {
    throw new UsageError('nothing to set: give --host-dir-policies and/or --scheduler-profile');
  }
  const stored = await withClient(io, options, async (client) => {
    const current = await client.clusterSettings.get();
    return client.clusterSettings.set({
      hostDirPolicies: [...(current.hostDirPolicies ?? []), ...policies],
      schedulerProfile: options.schedulerProfile ?? current.schedulerProfile,
    });
  });
  print(io, options, stored, renderClusterSettings);
}
