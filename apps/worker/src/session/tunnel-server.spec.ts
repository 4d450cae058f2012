import type { LookupAddress, LookupOptions } from 'node:dns';
import type { lookup } from 'node:dns';
import { createLocalhostLookup } from './tunnel-server';

type Answer = [NodeJS.ErrnoException | null, string | LookupAddress[], number?];

/** Runs the lookup and resolves with what its callback got. */
function ask(run: ReturnType<typeof createLocalhostLookup>, options: LookupOptions): Promise<Answer> {
  return new Promise((resolve) => run('localhost', options, (...answer) => resolve(answer)));
}

describe('createLocalhostLookup', () => {
  const v4: LookupAddress[] = [{ address: '127.0.0.1', family: 4 }];
  let clock = 0;
  let answers: Answer[] = [];
  const asked: LookupOptions[] = [];
  const resolver = ((_host: string, options: LookupOptions, callback: (...answer: Answer) => void) => {
    asked.push(options);
    const next = answers.shift() ?? [null, v4, undefined];
    setImmediate(() => callback(...next));
  }) as unknown as typeof lookup;

  beforeEach(() => {
    clock = 0;
    answers = [];
    asked.length = 0;
  });

  it('asks the system once a minute per kind of question and answers later calls asynchronously', async () => {
    const run = createLocalhostLookup(resolver, () => clock);
    expect(await ask(run, { all: true })).toEqual([null, v4, undefined]);
    let sync = true;
    const cached = new Promise<Answer>((resolve) =>
      run('localhost', { all: true }, (...answer) => resolve(sync ? [new Error('called synchronously'), ''] : answer)),
    );
    sync = false;
    expect(await cached).toEqual([null, v4, undefined]);
    expect(asked).toHaveLength(1);

    answers.push([null, '127.0.0.1', 4]);
    expect(await ask(run, { family: 4 })).toEqual([null, '127.0.0.1', 4]);
    expect(asked).toHaveLength(2);

    clock = 60_001;
    await ask(run, { all: true });
    expect(asked).toHaveLength(3);
  });

  it('never remembers a failure', async () => {
    const run = createLocalhostLookup(resolver, () => clock);
    const failure = Object.assign(new Error('getaddrinfo EAI_AGAIN localhost'), { code: 'EAI_AGAIN' });
    answers.push([failure, '', undefined]);
    expect((await ask(run, { all: true }))[0]).toBe(failure);
    expect(await ask(run, { all: true })).toEqual([null, v4, undefined]);
    expect(asked).toHaveLength(2);
  });
});
