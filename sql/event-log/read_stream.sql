-- Events of one stream in version order, in their current shape (current_events). plpgsql, so that
-- a session plans the query once rather than on every call. An archived stream is read only with
-- p_include_archived (else PE031); a tombstoned one reads as it was.
create or replace function {{schema}}.read_stream(
  p_stream uuid,
  p_from_version bigint default 1,
  p_limit int default 1000,
  p_include_archived boolean default false
) returns setof {{schema}}.events
language plpgsql
stable
set search_path = {{schema}}, pg_temp
as $$
begin
  if not p_include_archived and exists (select 1 from streams s where s.stream = p_stream and s.state = 'archived') then
    raise exception 'Stream % is archived: read it with include_archived', p_stream
      using errcode = 'PE031', detail = json_build_object('stream', p_stream, 'state', 'archived')::text,
            hint = format('select * from {{schema}}.read_stream(%L, p_include_archived => true) (CLI: pgevents read --include-archived, TypeScript: readStream(stream, { includeArchived: true })); or unarchive it.', p_stream);
  end if;
  return query
    select e.id, e.uuid, e.version, e.type, e.body, e.metadata, e.event_id, e.inserted_at, e.transaction_id, e.type_version, e.archived, e.tenant
      from current_events e
     where e.uuid = p_stream and e.version >= p_from_version
     order by e.version
     limit p_limit;
end;
$$;
