import RFB, { type RfbCredentials } from '@novnc/novnc';
import { seg, wsProtocols, wsUrl, type Credentials } from '../api';
import { findObstacle } from '../terminal/reachability';
import { describeClose } from '../terminal/exec-frames';

/** The VM port its screen is served on (Tart VMs' Screen Sharing, the synthetic runtime's RFB server). */
export const VNC_PORT = 5900;

/** Where a screen connection stands, as the state line shows it. */
export type ScreenState =
  | { kind: 'connecting' }
  | { kind: 'credentials'; types: Array<keyof RfbCredentials> }
  | { kind: 'connected'; desktop: string }
  /** `authFailed`: the VNC server refused the credentials (the next attempt asks the user for them). */
  | { kind: 'disconnected'; reason: string; authFailed: boolean };

export interface VncConnectionOptions {
  creds: Credentials;
  vm: string;
  /** The element noVNC draws into (it adds its own canvas). */
  target: HTMLElement;
  /** Credentials tried once when the server asks for them (the VM's own user, as Orchard's `vnc` command does). */
  vmCredentials?: RfbCredentials;
  viewOnly: boolean;
  onState(state: ScreenState): void;
  /** Text the VM put on its clipboard. */
  onClipboard(text: string): void;
}

/**
 * One VNC session with a VM through the port-forward WebSocket to its port 5900. The page opens the WebSocket itself
 * (its credentials travel in the subprotocols) and hands it to noVNC, so that the close code and reason of the tunnel
 * are known when the screen goes away.
 */
export class VncConnection {
  private readonly rfb: RFB | undefined;
  private readonly ws: WebSocket;
  private opened = false;
  private closeReason: string | undefined;
  private securityFailure: string | undefined;
  private triedVmCredentials = false;
  private ended = false;
  private desktop = '';

  constructor(private readonly options: VncConnectionOptions) {
    const path = `/v1/vms/${seg(options.vm)}/port-forward?port=${VNC_PORT}&wait=10`;
    this.ws = new WebSocket(wsUrl(path), wsProtocols(options.creds));
    this.ws.addEventListener('open', () => (this.opened = true));
    this.ws.addEventListener('close', (event) => {
      // 1000 with no reason is noVNC's own close; anything else says what the tunnel ended with.
      if (event.code !== 1000 || event.reason !== '') {
        this.closeReason = describeClose(event);
      }
    });
    options.onState({ kind: 'connecting' });
    try {
      this.rfb = new RFB(options.target, this.ws, { shared: true });
    } catch (err) {
      // noVNC refuses a socket it does not recognise, or a browser without what it needs: say so, not "Connecting…".
      this.ended = true;
      this.ws.close();
      const message = err instanceof Error ? err.message : String(err);
      options.onState({
        kind: 'disconnected',
        reason: `The VNC client could not start: ${message}.`,
        authFailed: false,
      });
      return;
    }
    const rfb = this.rfb;
    rfb.scaleViewport = true;
    rfb.resizeSession = false;
    rfb.viewOnly = options.viewOnly;
    rfb.background = '#1b1e23';
    rfb.addEventListener('connect', () => {
      options.onState({ kind: 'connected', desktop: this.desktop });
    });
    rfb.addEventListener('desktopname', (event) => {
      this.desktop = event.detail.name;
    });
    rfb.addEventListener('credentialsrequired', (event) => this.credentialsRequired(event.detail.types));
    rfb.addEventListener('securityfailure', (event) => {
      this.securityFailure = event.detail.reason || 'the VNC server refused the credentials';
    });
    rfb.addEventListener('clipboard', (event) => options.onClipboard(event.detail.text));
    rfb.addEventListener('disconnect', (event) => void this.disconnected(event.detail.clean));
  }

  set viewOnly(value: boolean) {
    if (this.rfb) {
      this.rfb.viewOnly = value;
    }
  }

  sendCredentials(credentials: RfbCredentials): void {
    this.options.onState({ kind: 'connecting' });
    this.rfb?.sendCredentials(credentials);
  }

  sendCtrlAltDel(): void {
    this.rfb?.sendCtrlAltDel();
    this.rfb?.focus();
  }

  /** Puts text on the VM's clipboard. */
  sendClipboard(text: string): void {
    this.rfb?.clipboardPasteFrom(text);
  }

  focus(): void {
    this.rfb?.focus();
  }

  dispose(): void {
    if (this.ended) {
      return;
    }
    this.ended = true;
    this.rfb?.disconnect();
  }

  private credentialsRequired(types: Array<keyof RfbCredentials>): void {
    const own = this.options.vmCredentials;
    if (!this.triedVmCredentials && own && types.every((type) => own[type])) {
      this.triedVmCredentials = true;
      this.rfb?.sendCredentials(own);
      return;
    }
    this.options.onState({ kind: 'credentials', types });
  }

  private async disconnected(clean: boolean): Promise<void> {
    if (this.ended) {
      return;
    }
    this.ended = true;
    let reason: string;
    if (this.securityFailure !== undefined) {
      reason = `Authentication failed: ${this.securityFailure}.`;
    } else if (!this.opened) {
      // A refused handshake: the browser does not say why, the REST API does.
      const obstacle = await findObstacle(this.options.creds, this.options.vm).catch(() => undefined);
      reason = obstacle?.message ?? 'Could not connect to the VM: the controller refused the connection.';
    } else if (this.closeReason !== undefined) {
      reason = `The connection ended: ${this.closeReason}.`;
    } else {
      reason = clean ? 'The VNC server closed the connection.' : 'The connection was lost.';
    }
    this.options.onState({ kind: 'disconnected', reason, authFailed: this.securityFailure !== undefined });
  }
}
