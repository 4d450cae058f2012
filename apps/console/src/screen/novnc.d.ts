/**
 * The part of noVNC's `RFB` the console uses (@novnc/novnc 1.7 ships JavaScript without type declarations; the
 * members follow its docs/API.md).
 */
declare module '@novnc/novnc' {
  export interface RfbCredentials {
    username?: string;
    password?: string;
    target?: string;
  }

  export interface RfbOptions {
    shared?: boolean;
    credentials?: RfbCredentials;
    repeaterID?: string;
    wsProtocols?: string[];
  }

  export interface RfbEventDetails {
    connect: Record<string, never>;
    disconnect: { clean: boolean };
    credentialsrequired: { types: Array<keyof RfbCredentials> };
    securityfailure: { status: number; reason?: string };
    clipboard: { text: string };
    desktopname: { name: string };
    capabilities: { capabilities: { power: boolean } };
    bell: Record<string, never>;
  }

  export default class RFB {
    constructor(target: HTMLElement, urlOrChannel: string | WebSocket, options?: RfbOptions);
    viewOnly: boolean;
    scaleViewport: boolean;
    clipViewport: boolean;
    resizeSession: boolean;
    focusOnClick: boolean;
    showDotCursor: boolean;
    background: string;
    qualityLevel: number;
    compressionLevel: number;
    readonly capabilities: { power: boolean };
    addEventListener<K extends keyof RfbEventDetails>(
      type: K,
      listener: (event: CustomEvent<RfbEventDetails[K]>) => void,
    ): void;
    removeEventListener<K extends keyof RfbEventDetails>(
      type: K,
      listener: (event: CustomEvent<RfbEventDetails[K]>) => void,
    ): void;
    disconnect(): void;
    sendCredentials(credentials: RfbCredentials): void;
    sendCtrlAltDel(): void;
    sendKey(keysym: number, code: string | null, down?: boolean): void;
    clipboardPasteFrom(text: string): void;
    focus(options?: FocusOptions): void;
    blur(): void;
    getImageData(): ImageData;
    toDataURL(type?: string, encoderOptions?: number): string;
  }
}
