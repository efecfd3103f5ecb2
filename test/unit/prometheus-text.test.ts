import { describe, expect, it } from 'vitest';
import { prometheusText } from '../../src/index.js';

describe("metrics in Prometheus' text format", () => {
  it('writes HELP and TYPE once per family, then one line per sample, labels escaped', () => {
    const text = prometheusText([
      { name: 'pgevents_streams', type: 'gauge', help: 'Streams that hold events.', samples: [{ labels: {}, value: 3 }] },
      {
        name: 'pgevents_subscription_lag_events',
        type: 'gauge',
        help: 'Lag, with a back\\slash\nand a new line.',
        samples: [
          { labels: { subscription: 'mailer', kind: 'subscription' }, value: 0 },
          { labels: { subscription: 'a "quoted" \\ name\nnext', kind: 'projection' }, value: 12.5 },
        ],
      },
      { name: 'pgevents_projection_rows', type: 'gauge', help: 'None yet.', samples: [] },
      { name: 'pgevents_odd', type: 'gauge', help: 'Odd values.', samples: [{ labels: {}, value: Number.NaN }, { labels: { x: 'y' }, value: Infinity }] },
    ]);
    expect(text).toBe(
      [
        '# HELP pgevents_streams Streams that hold events.',
        '# TYPE pgevents_streams gauge',
        'pgevents_streams 3',
        '# HELP pgevents_subscription_lag_events Lag, with a back\\\\slash\\nand a new line.',
        '# TYPE pgevents_subscription_lag_events gauge',
        'pgevents_subscription_lag_events{subscription="mailer",kind="subscription"} 0',
        'pgevents_subscription_lag_events{subscription="a \\"quoted\\" \\\\ name\\nnext",kind="projection"} 12.5',
        '# HELP pgevents_projection_rows None yet.',
        '# TYPE pgevents_projection_rows gauge',
        '# HELP pgevents_odd Odd values.',
        '# TYPE pgevents_odd gauge',
        'pgevents_odd NaN',
        'pgevents_odd{x="y"} +Inf',
        '',
      ].join('\n'),
    );
  });
});
