-- pgevents 0015: archived, on every event: whether its stream is archived (archive_stream sets it,
-- unarchive_stream clears it; sql/lifecycle/stream_lifecycle.sql). In a log split into a live and
-- an archived part (partition_events(n, p_archive => true)) it is the partition key, so that the
-- events of archived streams leave the live part and its indexes. A column with a default: adding
-- it rewrites no row. The events of streams archived before it are marked here; the immutability
-- trigger, which refuses every UPDATE, is set aside for that one statement.
alter table {{schema}}.events add column archived boolean not null default false;

comment on column {{schema}}.events.archived is 'Whether the event''s stream is archived (set by archive_stream, cleared by unarchive_stream; in a log with an archive partition, where the event is kept).';

do $$
begin
  if exists (select 1 from {{schema}}.streams s where s.state = 'archived') then
    alter table {{schema}}.events disable trigger events_immutable;
    update {{schema}}.events e set archived = true
      from {{schema}}.streams s where s.stream = e.uuid and s.state = 'archived';
    alter table {{schema}}.events enable trigger events_immutable;
  end if;
end;
$$;
