import { randomUUID } from 'node:crypto';
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConcurrencyError, type EventStore, openEventStore, type StoredEvent } from '../../src/index.js';
import type { TestEngine, TestStore } from '../support/engines.js';
import { waitFor } from './fixtures.js';
import { engineLabel } from './subscriptions.contract.js';

// The README's example, traced: an append in the application's span, a trigger projection kept in
// the same statement, and a subscription whose CONSUMER span links to the PRODUCER span that
// appended the event, through the traceparent stored in the event's metadata.
const ORDERS_SQL = (schema: string) => `
  create table public.order_totals (uuid uuid primary key, total numeric not null);
  create function public.project_order(e ${schema}.events) returns void
  language sql set search_path = public, pg_temp
  as $$ insert into order_totals values (e.uuid, (e.body ->> 'total')::numeric)
        on conflict (uuid) do update set total = excluded.total $$;`;

export default function tracingContract(engine: TestEngine): void {
  describe.skipIf(engine.unavailable !== null)(`OpenTelemetry tracing (${engineLabel(engine)})`, () => {
    let t: TestStore;
    let store: EventStore;
    const exporter = new InMemorySpanExporter();
    const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    const spansNamed = (name: string) => exporter.getFinishedSpans().filter((span) => span.name === name);
    const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;

    beforeAll(async () => {
      provider.register();
      t = await engine.createStore();
      store = t.store;
      await store.execScript(ORDERS_SQL(store.schema));
      await store.defineProjection({ name: 'order_totals', handlers: { order_placed: 'public.project_order' }, tables: ['public.order_totals'], streamColumn: 'uuid' });
    });
    afterAll(async () => {
      await t?.dispose();
      await provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
    });

    it('traces an append as a PRODUCER span in the caller\'s trace and stores its traceparent in the metadata', async () => {
      const stream = randomUUID();
      const tracer = trace.getTracer('the-application');
      await tracer.startActiveSpan('POST /orders', async (request) => {
        await store.append(stream, [{ type: 'order_placed', body: { total: 42 }, metadata: { by: 'test' } }]);
        request.end();
      });
      const [request] = spansNamed('POST /orders');
      const send = spansNamed('send order_placed').find((span) => span.attributes['pgevents.stream'] === stream)!;
      expect(send.kind).toBe(SpanKind.PRODUCER);
      expect(send.spanContext().traceId).toBe(request!.spanContext().traceId);
      expect(parentOf(send)).toBe(request!.spanContext().spanId);
      expect(send.attributes).toMatchObject({
        'messaging.system': 'pgevents',
        'messaging.operation.type': 'send',
        'messaging.destination.name': 'order_placed',
        'messaging.batch.message_count': 1,
        'db.system.name': 'postgresql',
        'db.namespace': store.schema,
      });
      const [event] = await store.readStream(stream);
      expect(event!.metadata).toEqual({ by: 'test', traceparent: `00-${send.spanContext().traceId}-${send.spanContext().spanId}-01` });
      expect(send.attributes['messaging.message.id']).toBe(event!.eventId);
      // The trigger projection ran inside the append's statement.
      const [total] = await store.query<{ total: string }>('select total::text from public.order_totals where uuid = $1', [stream]);
      expect(total?.total).toBe('42');
    });

    it('delivers to a subscription in a CONSUMER span linked to the span that appended each event', async () => {
      const stream = randomUUID();
      await store.append(stream, [{ type: 'order_placed', body: { total: 7 } }]);
      const send = spansNamed('send order_placed').find((span) => span.attributes['pgevents.stream'] === stream)!;
      const seen: StoredEvent[] = [];
      const subscription = await store.subscribe({ name: 'mailer', types: ['order_placed'], handler: (batch) => { seen.push(...batch); } });
      try {
        await waitFor(async () => (seen.some((event) => event.stream === stream) ? true : undefined), 'the delivery');
      } finally {
        await subscription.stop();
      }
      const process = spansNamed('process mailer').find((span) => span.links.some((link) => link.context.spanId === send.spanContext().spanId));
      expect(process).toBeDefined();
      expect(process!.kind).toBe(SpanKind.CONSUMER);
      expect(process!.attributes).toMatchObject({ 'messaging.operation.type': 'process', 'messaging.consumer.group.name': 'mailer' });
      expect(process!.links.find((link) => link.context.spanId === send.spanContext().spanId)?.context.traceId).toBe(send.spanContext().traceId);
    });

    it('traces handle, aggregate, reads, replays and rebuilds, and marks a failed append as an error', async () => {
      const stream = randomUUID();
      const fold = { initial: () => 0, evolve: (total: number, event: StoredEvent) => total + Number(event.body.total) };
      await store.handle(stream, { ...fold, decide: () => [{ type: 'order_placed', body: { total: 3 } }] }, {});
      const handle = spansNamed('handle').find((span) => span.attributes['pgevents.stream'] === stream)!;
      const send = spansNamed('send order_placed').find((span) => span.attributes['pgevents.stream'] === stream)!;
      expect(parentOf(send)).toBe(handle.spanContext().spanId);
      await store.aggregate(stream, fold);
      await store.readStream(stream);
      await store.readAll({ limit: 1 });
      await store.replay('order_totals');
      await store.rebuild('order_totals');
      for (const name of ['aggregate', 'read_stream', 'read_all', 'replay order_totals', 'rebuild order_totals']) {
        expect(spansNamed(name).length, name).toBeGreaterThan(0);
      }
      expect(spansNamed('read_stream')[0]!.kind).toBe(SpanKind.CLIENT);
      await expect(store.append(stream, [{ type: 'order_placed', body: { total: 1 } }], { expectedVersion: 0 })).rejects.toBeInstanceOf(ConcurrencyError);
      const failed = spansNamed('send order_placed').filter((span) => span.attributes['pgevents.stream'] === stream).at(-1)!;
      expect(failed.status.code).toBe(SpanStatusCode.ERROR);
    });

    it('keeps an event\'s own traceparent, and stores none when the store is opened with traceContext: false', async () => {
      const stream = randomUUID();
      const own = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
      await store.append(stream, [{ type: 'order_placed', body: { total: 1 }, metadata: { traceparent: own } }]);
      expect((await store.readStream(stream))[0]!.metadata).toEqual({ traceparent: own });
      if (!t.url) return; // the embedded engine takes one store per data dir
      const untraced = await openEventStore({ url: t.url, traceContext: false });
      try {
        const other = randomUUID();
        await untraced.append(other, [{ type: 'order_placed', body: { total: 1 } }]);
        expect((await untraced.readStream(other))[0]!.metadata).toEqual({});
        expect(spansNamed('send order_placed').some((span) => span.attributes['pgevents.stream'] === other)).toBe(true);
      } finally {
        await untraced.close();
      }
    });

    it('stores no traceparent when no SDK records spans (the API\'s no-op tracer)', async () => {
      trace.disable();
      const stream = randomUUID();
      await store.append(stream, [{ type: 'order_placed', body: { total: 1 } }]);
      expect((await store.readStream(stream))[0]!.metadata).toEqual({});
    });
  });
}
