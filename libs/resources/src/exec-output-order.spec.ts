import type { ExecFrame } from './exec';
import { ExecOutputOrder } from './exec-output-order';

function out(watermark: number | undefined, data = `f${watermark}`): ExecFrame {
  return { type: 'stdout', data, watermark };
}

function setup() {
  const handed: ExecFrame[] = [];
  let accepting = true;
  const order = new ExecOutputOrder({ accepting: () => accepting, deliver: (frame) => handed.push(frame) });
  return { order, handed, data: () => handed.map((f) => f.data), stop: () => (accepting = false) };
}

describe('ExecOutputOrder', () => {
  it('hands frames on in watermark order and skips the ones a replay repeats', () => {
    const { order, data } = setup();
    order.take(out(1));
    order.take(out(2));
    order.startReplay();
    order.take(out(4)); // a live frame after a gap waits for the replay
    order.take(out(2)); // repeated by the replay
    order.take(out(3));
    order.take({ type: 'no_more_history' });
    expect(data()).toEqual(['f1', 'f2', 'f3', 'f4']);
    expect(order.delivered).toBe(4);
  });

  it('hands on held frames past a gap the replay did not fill once it ends', () => {
    const { order, data } = setup();
    order.take(out(1));
    order.startReplay();
    order.take(out(5));
    order.take(out(3));
    order.take({ type: 'no_more_history' });
    expect(data()).toEqual(['f1', 'f3', 'f5']);
  });

  it('hands on an error frame without a watermark at once', () => {
    const { order, handed } = setup();
    order.startReplay();
    order.take({ type: 'error', error: 'bad frame' });
    expect(handed).toEqual([{ type: 'error', error: 'bad frame' }]);
  });

  it('hands frames on as they come when told they are not ordered', () => {
    const { order, data } = setup();
    order.take(out(2), false);
    order.take(out(1), false);
    expect(data()).toEqual(['f2', 'f1']);
  });

  it('hands nothing on, and counts nothing, once the sink stops accepting', () => {
    const { order, data, stop } = setup();
    order.take(out(1));
    stop();
    order.take(out(2));
    expect(data()).toEqual(['f1']);
    expect(order.delivered).toBe(1);
  });

  it('ignores client frame types', () => {
    const { order, handed } = setup();
    order.take({ type: 'ack', watermark: 3 });
    order.take({ type: 'stdin', data: 'eA==' });
    expect(handed).toEqual([]);
  });
});
