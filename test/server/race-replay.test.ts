import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventStore } from '../../src/index.js';
import { server, type TestStore } from '../support/engines.js';
import {
  checkReadModel,
  closeAll,
  COUNTED_TYPES,
  defineCountingProjection,
  openStores,
  waitFor,
} from '../support/race-helpers.js';

const WRITERS = 4;
const APPENDS_PER_WRITER = 100;
const STREAMS = 6;

describe.skipIf(server.unavailable !== null)('replay while other connections append (server)', { timeout: 180_000 }, () => {
  let t: TestStore;
  let writers: EventStore[];
  let replayers: EventStore[];

  beforeAll(async () => {
    t = await server.createStore();
    await defineCountingProjection(t.store);
    writers = await openStores(t.url!, WRITERS, 1);
    replayers = await openStores(t.url!, 3, 1);
  });
  afterAll(async () => {
    await closeAll([...(writers ?? []), ...(replayers ?? [])]);
    await t?.dispose();
  });

  it('neither loses nor doubles an event when full and per-stream replays run during appends', async () => {
    const streams = Array.from({ length: STREAMS }, () => randomUUID());
    let writing = WRITERS;
    let appended = 0;
    let replaysDone: () => void = () => undefined;
    const allReplaysDone = new Promise<void>((resolve) => {
      replaysDone = resolve;
    });

    async function write(writer: EventStore, index: number): Promise<void> {
      try {
        for (let n = 0; n < APPENDS_PER_WRITER; n += 1) {
          // Each writer keeps its last append until every replay is done: the replays all run while
          // appends are still to come, however the scheduler orders the connections.
          if (n === APPENDS_PER_WRITER - 1) await allReplaysDone;
          const stream = streams[(index * 7 + n) % STREAMS]!;
          // Batches mix handled and unhandled types, so some appends take the projection lock and some do not.
          const size = 1 + (n % 3);
          await writer.append(
            stream,
            Array.from({ length: size }, (_, k) => ({
              type: (n + k) % 4 === 3 ? 'not_counted' : COUNTED_TYPES[(n + k) % 2]!,
              body: { index, n, k },
            })),
          );
          appended += 1;
        }
      } finally {
        writing -= 1;
      }
    }

    // Each replayer spreads its replays over the write phase: replay n starts once n/(count+1) of
    // the appends are done (at most 12/13 of them: the writers' held last appends are not needed),
    // so replays overlap appends from start to end of the race.
    const total = WRITERS * APPENDS_PER_WRITER;
    const replays = { full: 0, stream: 0, duringWrites: 0 };
    async function replayLoop(replayer: EventStore, kind: 'full' | 'stream', count: number, offset: number): Promise<void> {
      for (let n = 1; n <= count; n += 1) {
        await waitFor(`${n}/${count + 1} of the appends`, async () => appended >= (total * n) / (count + 1), 60_000);
        if (kind === 'full') {
          await replayer.replay('counting', { batchSize: 25 });
        } else {
          await replayer.replay('counting', { stream: streams[(offset + n) % STREAMS]!, batchSize: 3 });
        }
        replays[kind] += 1;
        if (writing > 0) replays.duringWrites += 1;
      }
    }

    const replaying = Promise.all([
      replayLoop(replayers[0]!, 'full', 8, 0),
      replayLoop(replayers[1]!, 'stream', 12, 0),
      replayLoop(replayers[2]!, 'stream', 12, 3),
    ]).finally(replaysDone);
    await Promise.all([...writers.map((writer, index) => write(writer, index)), replaying]);

    expect(appended).toBe(WRITERS * APPENDS_PER_WRITER);
    expect(replays).toMatchObject({ full: 8, stream: 24 });
    expect(replays.duringWrites).toBe(8 + 24);
    const afterRace = await checkReadModel(t.store);
    expect(afterRace.strayPositions).toEqual([]);
    expect(afterRace.missingPositions).toEqual([]);
    expect(afterRace.counts).toEqual(afterRace.expected);
    expect(Object.keys(afterRace.expected).sort()).toEqual([...streams].sort());

    const rebuilt = await t.store.replay('counting');
    const afterReplay = await checkReadModel(t.store);
    expect(afterReplay.counts).toEqual(afterRace.counts);
    expect(rebuilt.applied).toBe(Object.values(afterRace.expected).reduce((sum, n) => sum + n, 0));
  });
});
