import { TestController } from '../test-support/test-controller';

// A VM write reads the VM, computes the new document and writes it only if nobody wrote it in between, else reads it
// again (issue 13: two statements instead of a locked read in a transaction of five). Writes that race for one VM must
// all land, each on top of the others.
describe('concurrent writes of one VM', () => {
  let ctl: TestController;

  beforeAll(async () => {
    ctl = await TestController.start();
  });
  afterAll(async () => {
    await ctl.close();
  });

  it('loses no spec change and no state report', async () => {
    expect((await ctl.request('POST', '/v1/vms', { body: { name: 'raced', image: 'i' } })).status).toBe(200);
    const before = (await ctl.request('GET', '/v1/vms/raced')).body;
    const specs = Array.from({ length: 12 }, (_, i) =>
      ctl.request('PUT', '/v1/vms/raced', { body: { name: 'raced', netSoftnetAllow: [`10.0.${i}.0/24`] } }),
    );
    const reports = Array.from({ length: 12 }, (_, i) =>
      ctl.request('PUT', '/v1/vms/raced/state', { body: { name: 'raced', status_message: `report ${i}` } }),
    );
    const answers = await Promise.all([...specs, ...reports]);
    expect(answers.map((a) => a.status)).toEqual(answers.map(() => 200));

    const after = (await ctl.request('GET', '/v1/vms/raced')).body;
    // Every spec change counted once, and every write got a version of its own.
    expect(after.generation).toBe(before.generation + 12);
    const versions = answers.map((a) => a.body.version as number);
    expect(new Set(versions).size).toBe(24);
    expect(after.version).toBe(Math.max(...versions));
    // The last write left the document as the answer to it said, and no report undid a spec change or the reverse.
    const last = answers.find((a) => a.body.version === after.version)?.body;
    expect(after).toEqual(last);
    expect(after.status_message).toMatch(/^report \d+$/);
    expect(after.netSoftnetAllow).toHaveLength(1);
  });
});
