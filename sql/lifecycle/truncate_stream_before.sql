-- Deletes a stream's events below p_before_version: the only sanctioned way to delete events, the
-- store's owner's only (no grant gives it). The stream's last event is always kept, so its version
-- goes on, and streams.truncated_before makes an insert of a deleted version fail (PE003): no
-- version is ever reused. By default a snapshot (define_snapshot) of the stream
-- must already reach version p_before_version - 1, so that the state of the deleted events is
-- kept; p_require_snapshot => false deletes without one. Recorded in stream_lifecycle (who, when,
-- why, how many). Returns how many events were deleted.
--
-- The events table's immutability trigger (tg_events__reject_change) lets a DELETE through only
-- when the transaction-local setting pgevents.truncate_<schema> names a truncate_before record of
-- stream_lifecycle written by the same transaction: only the owner can write one (this function
-- does), so a role that forges the setting is still refused, whatever its privileges on events.
-- Subscriptions and gap-safe readers are unaffected by events disappearing below their cursor (a
-- cursor is a place in the order, not a row); events deleted above it are never delivered. A
-- replay or rebuild afterwards folds what is left: the stream's projections then reflect its events
-- from p_before_version on (see docs/stream-lifecycle.md).
create or replace function {{schema}}.truncate_stream_before(
  p_stream uuid,
  p_before_version bigint,
  p_reason text,
  p_require_snapshot boolean default true
) returns bigint
language plpgsql
security definer
set search_path = {{schema}}, pg_temp
as $$
declare
  v_stream streams := lock_stream_for_lifecycle(p_stream, p_reason);
  v_snapshot text;
  v_covered boolean := false;
  v_count bigint;
  v_deleted bigint;
  v_audit bigint;
begin
  if p_before_version is null or p_before_version < 1 or p_before_version > v_stream.version then
    raise exception 'Invalid version to truncate before: % (Stream: %, Stream Version: %)', p_before_version, p_stream, v_stream.version
      using errcode = 'PE025', detail = json_build_object('field', 'before_version', 'stream', p_stream, 'version', v_stream.version)::text,
            hint = format('Give a version from 1 to %s: the stream''s last event is always kept.', v_stream.version);
  end if;
  if p_require_snapshot then
    for v_snapshot in select s.name from snapshots s order by s.name loop
      execute format('select exists (select 1 from %I.%I t where t.stream = $1 and t.version >= $2)', '{{schema}}_snapshots', v_snapshot)
        into v_covered using p_stream, p_before_version - 1;
      exit when v_covered;
    end loop;
    if not v_covered then
      raise exception 'No snapshot of stream % reaches version %: truncating before % would lose the state of the deleted events', p_stream, p_before_version - 1, p_before_version
        using errcode = 'PE025', detail = json_build_object('field', 'before_version', 'stream', p_stream, 'version', v_stream.version)::text,
              hint = 'Define a snapshot of the stream''s types (define_snapshot) and let it reach that version, or truncate without one (p_require_snapshot => false, CLI --without-snapshot).';
    end if;
  end if;
  select count(*) into v_count from events e where e.uuid = p_stream and e.version < p_before_version;
  update streams set truncated_before = greatest(truncated_before, p_before_version) where stream = p_stream;
  v_audit := record_stream_lifecycle(v_stream, 'truncate_before', p_reason, p_before_version, v_count);
  perform set_config('pgevents.truncate_{{schema}}', v_audit::text, true);
  delete from events e where e.uuid = p_stream and e.version < p_before_version;
  get diagnostics v_deleted = row_count;
  perform set_config('pgevents.truncate_{{schema}}', '', true);
  return v_deleted;
end;
$$;
