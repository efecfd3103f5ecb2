-- pgevents 0003: listeners and durable subscriptions (gap-safe reading is in sql/subscriptions/).

-- Sessions that want to be woken by appends. Appends send a NOTIFY only while a row exists here,
-- because NOTIFY serialises the commits of every notifying transaction in the cluster.
create table {{schema}}.listeners (
  id uuid primary key,
  pid int not null,
  listening_since timestamptz not null default statement_timestamp()
);

comment on table {{schema}}.listeners is 'Sessions LISTENing on pgevents_<schema>; appends notify only while one is registered.';

-- One row per durable subscription (and async projection): its checkpoint and its state.
-- state: running (a runner delivers), stopped (none does), failed (delivery stopped at the event
-- error_position after `attempts` failures; resume, skip or reset it).
create table {{schema}}.subscriptions (
  name text primary key,
  kind text not null default 'subscription',
  transaction_id xid8 not null default '0',
  "position" bigint not null default 0,
  state text not null default 'stopped',
  types text[],
  tables text[] not null default '{}',
  attempts int not null default 0,
  last_error text,
  error_transaction_id xid8,
  error_position bigint,
  runner text,
  created_at timestamptz not null default statement_timestamp(),
  updated_at timestamptz not null default statement_timestamp(),
  checkpoint_at timestamptz,
  reset_at timestamptz,
  constraint subscriptions_name_valid check (name ~ '^[a-z][a-z0-9_-]{0,62}$'),
  constraint subscriptions_kind_valid check (kind in ('subscription', 'projection')),
  constraint subscriptions_state_valid check (state in ('running', 'stopped', 'failed')),
  constraint subscriptions_failed_names_event check (state <> 'failed' or error_position is not null)
);

comment on table {{schema}}.subscriptions is 'Durable subscriptions and async projections: checkpoint (transaction_id, position) and delivery state.';
