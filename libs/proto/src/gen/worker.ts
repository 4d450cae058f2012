import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { ControllerMessage as _grove_worker_v1_ControllerMessage, ControllerMessage__Output as _grove_worker_v1_ControllerMessage__Output } from './grove/worker/v1/ControllerMessage';
import type { ExecExit as _grove_worker_v1_ExecExit, ExecExit__Output as _grove_worker_v1_ExecExit__Output } from './grove/worker/v1/ExecExit';
import type { ExecInput as _grove_worker_v1_ExecInput, ExecInput__Output as _grove_worker_v1_ExecInput__Output } from './grove/worker/v1/ExecInput';
import type { ExecOutput as _grove_worker_v1_ExecOutput, ExecOutput__Output as _grove_worker_v1_ExecOutput__Output } from './grove/worker/v1/ExecOutput';
import type { ExecStart as _grove_worker_v1_ExecStart, ExecStart__Output as _grove_worker_v1_ExecStart__Output } from './grove/worker/v1/ExecStart';
import type { ExecStarted as _grove_worker_v1_ExecStarted, ExecStarted__Output as _grove_worker_v1_ExecStarted__Output } from './grove/worker/v1/ExecStarted';
import type { ExecTerminalSize as _grove_worker_v1_ExecTerminalSize, ExecTerminalSize__Output as _grove_worker_v1_ExecTerminalSize__Output } from './grove/worker/v1/ExecTerminalSize';
import type { GoingAway as _grove_worker_v1_GoingAway, GoingAway__Output as _grove_worker_v1_GoingAway__Output } from './grove/worker/v1/GoingAway';
import type { Hello as _grove_worker_v1_Hello, Hello__Output as _grove_worker_v1_Hello__Output } from './grove/worker/v1/Hello';
import type { LinkEnded as _grove_worker_v1_LinkEnded, LinkEnded__Output as _grove_worker_v1_LinkEnded__Output } from './grove/worker/v1/LinkEnded';
import type { OpenTunnels as _grove_worker_v1_OpenTunnels, OpenTunnels__Output as _grove_worker_v1_OpenTunnels__Output } from './grove/worker/v1/OpenTunnels';
import type { Ping as _grove_worker_v1_Ping, Ping__Output as _grove_worker_v1_Ping__Output } from './grove/worker/v1/Ping';
import type { Pong as _grove_worker_v1_Pong, Pong__Output as _grove_worker_v1_Pong__Output } from './grove/worker/v1/Pong';
import type { ResolveIp as _grove_worker_v1_ResolveIp, ResolveIp__Output as _grove_worker_v1_ResolveIp__Output } from './grove/worker/v1/ResolveIp';
import type { ResolveIpResult as _grove_worker_v1_ResolveIpResult, ResolveIpResult__Output as _grove_worker_v1_ResolveIpResult__Output } from './grove/worker/v1/ResolveIpResult';
import type { SyncVms as _grove_worker_v1_SyncVms, SyncVms__Output as _grove_worker_v1_SyncVms__Output } from './grove/worker/v1/SyncVms';
import type { TunnelCloseWrite as _grove_worker_v1_TunnelCloseWrite, TunnelCloseWrite__Output as _grove_worker_v1_TunnelCloseWrite__Output } from './grove/worker/v1/TunnelCloseWrite';
import type { TunnelError as _grove_worker_v1_TunnelError, TunnelError__Output as _grove_worker_v1_TunnelError__Output } from './grove/worker/v1/TunnelError';
import type { TunnelFrame as _grove_worker_v1_TunnelFrame, TunnelFrame__Output as _grove_worker_v1_TunnelFrame__Output } from './grove/worker/v1/TunnelFrame';
import type { TunnelHostProcess as _grove_worker_v1_TunnelHostProcess, TunnelHostProcess__Output as _grove_worker_v1_TunnelHostProcess__Output } from './grove/worker/v1/TunnelHostProcess';
import type { TunnelOpen as _grove_worker_v1_TunnelOpen, TunnelOpen__Output as _grove_worker_v1_TunnelOpen__Output } from './grove/worker/v1/TunnelOpen';
import type { TunnelOpened as _grove_worker_v1_TunnelOpened, TunnelOpened__Output as _grove_worker_v1_TunnelOpened__Output } from './grove/worker/v1/TunnelOpened';
import type { TunnelTarget as _grove_worker_v1_TunnelTarget, TunnelTarget__Output as _grove_worker_v1_TunnelTarget__Output } from './grove/worker/v1/TunnelTarget';
import type { TunnelTartGuestAgent as _grove_worker_v1_TunnelTartGuestAgent, TunnelTartGuestAgent__Output as _grove_worker_v1_TunnelTartGuestAgent__Output } from './grove/worker/v1/TunnelTartGuestAgent';
import type { Welcome as _grove_worker_v1_Welcome, Welcome__Output as _grove_worker_v1_Welcome__Output } from './grove/worker/v1/Welcome';
import type { WorkerMessage as _grove_worker_v1_WorkerMessage, WorkerMessage__Output as _grove_worker_v1_WorkerMessage__Output } from './grove/worker/v1/WorkerMessage';
import type { WorkerServiceClient as _grove_worker_v1_WorkerServiceClient, WorkerServiceDefinition as _grove_worker_v1_WorkerServiceDefinition } from './grove/worker/v1/WorkerService';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  grove: {
    worker: {
      v1: {
        ControllerMessage: MessageTypeDefinition<_grove_worker_v1_ControllerMessage, _grove_worker_v1_ControllerMessage__Output>
        ExecExit: MessageTypeDefinition<_grove_worker_v1_ExecExit, _grove_worker_v1_ExecExit__Output>
        ExecInput: MessageTypeDefinition<_grove_worker_v1_ExecInput, _grove_worker_v1_ExecInput__Output>
        ExecOutput: MessageTypeDefinition<_grove_worker_v1_ExecOutput, _grove_worker_v1_ExecOutput__Output>
        ExecStart: MessageTypeDefinition<_grove_worker_v1_ExecStart, _grove_worker_v1_ExecStart__Output>
        ExecStarted: MessageTypeDefinition<_grove_worker_v1_ExecStarted, _grove_worker_v1_ExecStarted__Output>
        ExecTerminalSize: MessageTypeDefinition<_grove_worker_v1_ExecTerminalSize, _grove_worker_v1_ExecTerminalSize__Output>
        GoingAway: MessageTypeDefinition<_grove_worker_v1_GoingAway, _grove_worker_v1_GoingAway__Output>
        Hello: MessageTypeDefinition<_grove_worker_v1_Hello, _grove_worker_v1_Hello__Output>
        LinkEnded: MessageTypeDefinition<_grove_worker_v1_LinkEnded, _grove_worker_v1_LinkEnded__Output>
        OpenTunnels: MessageTypeDefinition<_grove_worker_v1_OpenTunnels, _grove_worker_v1_OpenTunnels__Output>
        Ping: MessageTypeDefinition<_grove_worker_v1_Ping, _grove_worker_v1_Ping__Output>
        Pong: MessageTypeDefinition<_grove_worker_v1_Pong, _grove_worker_v1_Pong__Output>
        ResolveIp: MessageTypeDefinition<_grove_worker_v1_ResolveIp, _grove_worker_v1_ResolveIp__Output>
        ResolveIpResult: MessageTypeDefinition<_grove_worker_v1_ResolveIpResult, _grove_worker_v1_ResolveIpResult__Output>
        SyncVms: MessageTypeDefinition<_grove_worker_v1_SyncVms, _grove_worker_v1_SyncVms__Output>
        TunnelCloseWrite: MessageTypeDefinition<_grove_worker_v1_TunnelCloseWrite, _grove_worker_v1_TunnelCloseWrite__Output>
        TunnelError: MessageTypeDefinition<_grove_worker_v1_TunnelError, _grove_worker_v1_TunnelError__Output>
        TunnelFrame: MessageTypeDefinition<_grove_worker_v1_TunnelFrame, _grove_worker_v1_TunnelFrame__Output>
        TunnelHostProcess: MessageTypeDefinition<_grove_worker_v1_TunnelHostProcess, _grove_worker_v1_TunnelHostProcess__Output>
        TunnelOpen: MessageTypeDefinition<_grove_worker_v1_TunnelOpen, _grove_worker_v1_TunnelOpen__Output>
        TunnelOpened: MessageTypeDefinition<_grove_worker_v1_TunnelOpened, _grove_worker_v1_TunnelOpened__Output>
        TunnelTarget: MessageTypeDefinition<_grove_worker_v1_TunnelTarget, _grove_worker_v1_TunnelTarget__Output>
        TunnelTartGuestAgent: MessageTypeDefinition<_grove_worker_v1_TunnelTartGuestAgent, _grove_worker_v1_TunnelTartGuestAgent__Output>
        Welcome: MessageTypeDefinition<_grove_worker_v1_Welcome, _grove_worker_v1_Welcome__Output>
        WorkerMessage: MessageTypeDefinition<_grove_worker_v1_WorkerMessage, _grove_worker_v1_WorkerMessage__Output>
        /**
         * Served by the controller on its gRPC port. Every call carries the worker's service-account credentials in metadata
         * (`authorization: Basic …`), which must hold the `compute:write` role.
         */
        WorkerService: SubtypeConstructor<typeof grpc.Client, _grove_worker_v1_WorkerServiceClient> & { service: _grove_worker_v1_WorkerServiceDefinition }
      }
    }
  }
}

