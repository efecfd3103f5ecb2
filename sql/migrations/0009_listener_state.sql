-- pgevents 0009: whether a listener is awake.
-- A reader that is awake reads again by itself while writers are at work, so appends need not
-- NOTIFY it: NOTIFY serialises the commits of every notifying transaction in the cluster, which
-- halves the throughput of concurrent appenders. Appends notify only while some listener sleeps
-- (sql/subscriptions/listeners.sql has the protocol). The table only describes live sessions,
-- so it is unlogged: its updates cost no WAL flush, and a crash empties it, as it ends the sessions.
alter table {{schema}}.listeners add column awake boolean not null default false;
alter table {{schema}}.listeners set unlogged;

comment on table {{schema}}.listeners is 'Sessions LISTENing on pgevents_<schema>; appends notify only while one of them is registered and not awake.';
