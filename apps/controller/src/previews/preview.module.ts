import { Module } from '@nestjs/common';
import { TunnelModule } from '../tunnels/tunnel.module';
import { VmModule } from '../vms/vm.module';
import { PreviewController } from './preview.controller';
import { PreviewKey } from './preview-key';
import { PreviewProxy } from './preview-proxy';

/** Preview links to HTTP ports of VMs (issue 16): made through the API, served under `/preview/` by every replica. */
@Module({
  imports: [VmModule, TunnelModule],
  controllers: [PreviewController],
  providers: [PreviewKey, PreviewProxy],
  exports: [PreviewProxy],
})
export class PreviewModule {}
