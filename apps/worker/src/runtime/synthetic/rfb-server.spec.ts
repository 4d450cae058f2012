import { serveRfb } from './rfb-server';
import { ServiceListener } from './service-listener';
import { BAR_COLOURS, BARS_TOP, TestPatternScreen } from './test-pattern-screen';
import { pixelAt, RfbTestClient } from './test-support/rfb-test-client';

/** Screen x of the middle of colour bar `i` (eight bars of 128 pixels). */
const barX = (i: number) => i * 128 + 64;
const BAR_Y = BARS_TOP + 100;
const YELLOW = BAR_COLOURS.indexOf(0xffff00);
const RED = BAR_COLOURS.indexOf(0xff0000);

describe('the synthetic VM VNC server (RFB)', () => {
  let screen: TestPatternScreen;
  let listener: ServiceListener;
  let port: number;
  let logged: string[];
  const clients: RfbTestClient[] = [];

  beforeEach(async () => {
    screen = new TestPatternScreen('vnc-vm');
    logged = [];
    listener = new ServiceListener((socket) => serveRfb(socket, screen, (line) => logged.push(line)));
    port = await listener.listenLoopback();
  });

  afterEach(async () => {
    clients.splice(0).forEach((c) => c.close());
    await listener.close();
    screen.close();
  });

  async function client(): Promise<RfbTestClient> {
    const c = await RfbTestClient.connect(port);
    clients.push(c);
    return c;
  }

  it('greets with RFB 3.8, offers security None and describes a 1024x768 true-colour screen named after the VM', async () => {
    const c = await client();
    expect((await c.read(12)).toString()).toBe('RFB 003.008\n');
    c.send(Buffer.from('RFB 003.008\n'));
    expect([...(await c.read(2))]).toEqual([1, 1]);
    c.send(Buffer.from([1]));
    expect((await c.read(4)).readUInt32BE(0)).toBe(0);
    c.send(Buffer.from([1]));
    const init = await c.serverInit();
    expect(init).toMatchObject({ width: 1024, height: 768, name: 'vnc-vm' });
    // 32 bits per pixel, depth 24, little-endian, true colour, 255/255/255, shifts 16/8/0.
    expect([...init.pixelFormat.subarray(0, 13)]).toEqual([32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0]);
  });

  it('speaks RFB 3.7 (no SecurityResult after None) and 3.3 (the server picks None)', async () => {
    const v37 = await client();
    await v37.read(12);
    v37.send(Buffer.from('RFB 003.007\n'));
    expect([...(await v37.read(2))]).toEqual([1, 1]);
    v37.send(Buffer.from([1, 1])); // security None, then ClientInit at once
    expect((await v37.serverInit()).name).toBe('vnc-vm');

    const v33 = await client();
    await v33.read(12);
    v33.send(Buffer.from('RFB 003.003\n'));
    expect((await v33.read(4)).readUInt32BE(0)).toBe(1);
    v33.send(Buffer.from([0]));
    expect((await v33.serverInit()).width).toBe(1024);
  });

  it('refuses a security type it did not offer with a reason, and a client that is not RFB', async () => {
    const c = await client();
    await c.read(12);
    c.send(Buffer.from('RFB 003.008\n'));
    await c.read(2);
    c.send(Buffer.from([2])); // VNC authentication
    const result = await c.read(8);
    expect(result.readUInt32BE(0)).toBe(1);
    expect((await c.read(result.readUInt32BE(4))).toString()).toMatch(/only offers None/);
    await c.closed();

    const http = await client();
    await http.read(12);
    http.send(Buffer.from('GET / HTTP/1.1\r\n\r\n'));
    await http.closed();
    expect(logged.join('\n')).toMatch(/unsupported protocol version "GET \/ HTTP\/1"/);
  });

  it('sends the whole test pattern on a full update request', async () => {
    const c = await client();
    await c.handshake();
    c.requestUpdate(false, 0, 0, 1024, 768);
    const [rect] = await c.readUpdate();
    expect(rect).toMatchObject({ x: 0, y: 0, width: 1024, height: 768 });
    BAR_COLOURS.forEach((colour, i) => expect(pixelAt(rect, barX(i), BAR_Y)).toBe(colour));
  });

  it('paints a dot where the pointer clicks and a stroke where it drags, sent as incremental updates', async () => {
    const c = await client();
    await c.handshake();
    c.requestUpdate(false, 280, 480, 40, 40);
    const [before] = await c.readUpdate();
    expect(pixelAt(before, 300, 500)).toBe(0x303030);

    c.requestUpdate(true, 280, 480, 40, 40);
    c.pointer(300, 500, 0); // moving alone paints nothing
    c.pointer(300, 500, 1);
    const [after] = await c.readUpdate();
    expect(pixelAt(after, 300, 500)).toBe(0xffffff);

    c.requestUpdate(true, 280, 480, 80, 40);
    c.pointer(340, 500, 1); // dragging draws a stroke, not two dots
    const [stroke] = await c.readUpdate();
    expect(pixelAt(stroke, 320, 500)).toBe(0xffffff);
  });

  it('answers an incremental request for part of the screen only once more when something in it changed', async () => {
    const c = await client();
    await c.handshake();
    c.requestUpdate(false, 0, 400, 1024, 280); // the canvas and the typed text
    await c.readUpdate();
    c.requestUpdate(true, 0, 400, 1024, 280);
    c.pointer(500, 401, 1); // a dot reaching above the requested part
    const [dot] = await c.readUpdate();
    expect(dot).toMatchObject({ y: 400 });

    c.requestUpdate(true, 0, 400, 1024, 280);
    c.key('k'.charCodeAt(0), true); // what changes next is the typed text, not the dot sent already
    const update = await c.readUpdate();
    expect(update.map(({ x, y, width, height }) => ({ x, y, width, height }))).toEqual([
      { x: 0, y: 600, width: 1024, height: 80 },
    ]);
  });

  it('shows typed keys, and a moving bar without any input', async () => {
    const c = await client();
    await c.handshake();
    c.requestUpdate(false, 0, 600, 1024, 80);
    const [before] = await c.readUpdate();
    c.requestUpdate(true, 0, 600, 1024, 80);
    for (const char of 'hi') {
      c.key(char.charCodeAt(0), true);
      c.key(char.charCodeAt(0), false);
    }
    const [typed] = await c.readUpdate();
    expect(typed.data.equals(before.data)).toBe(false);

    c.requestUpdate(false, 0, 720, 1024, 48);
    const [ticker] = await c.readUpdate();
    c.requestUpdate(true, 0, 720, 1024, 48);
    const [moved] = await c.readUpdate();
    expect(moved.data.equals(ticker.data)).toBe(false);
  });

  it('sends 16-bit pixels (RGB565, little- or big-endian) after SetPixelFormat', async () => {
    const c = await client();
    await c.handshake();
    const setFormat = (bigEndian: number) =>
      // prettier-ignore
      c.send(Buffer.from([0, 0, 0, 0, 16, 16, bigEndian, 1, 0, 31, 0, 63, 0, 31, 11, 5, 0, 0, 0, 0]));
    setFormat(0);
    c.requestUpdate(false, barX(RED), BAR_Y, 1, 1);
    expect([...(await c.readUpdate(2))[0].data]).toEqual([0x00, 0xf8]);
    setFormat(1);
    c.requestUpdate(false, barX(YELLOW), BAR_Y, 1, 1);
    expect([...(await c.readUpdate(2))[0].data]).toEqual([0xff, 0xe0]);
  });

  it('ignores encodings it does not know and closes on a colour-map pixel format, saying why', async () => {
    const c = await client();
    await c.handshake();
    const encodings = Buffer.alloc(4 + 3 * 4);
    encodings.writeUInt8(2, 0);
    encodings.writeUInt16BE(3, 2);
    [7, -223, 0].forEach((encoding, i) => encodings.writeInt32BE(encoding, 4 + i * 4)); // Tight, DesktopSize, Raw
    c.send(encodings);
    c.requestUpdate(false, barX(YELLOW), BAR_Y, 1, 1);
    expect(pixelAt((await c.readUpdate())[0], barX(YELLOW), BAR_Y)).toBe(0xffff00);

    c.send(Buffer.from([0, 0, 0, 0, 8, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
    await c.closed();
    expect(logged.join('\n')).toMatch(/SetPixelFormat: colour-map pixel formats are not supported/);
  });
});
