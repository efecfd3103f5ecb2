-- The parts of a cursor. Raises PE009 for text that is not a cursor.
create or replace function {{schema}}.parse_cursor(p_cursor text, out transaction_id xid8, out "position" bigint)
language plpgsql
immutable
set search_path = {{schema}}, pg_temp
as $$
begin
  if p_cursor is not null and p_cursor ~ '^[0-9]{1,20}-[0-9]{1,18}$' then
    begin
      transaction_id := split_part(p_cursor, '-', 1)::xid8;
      "position" := split_part(p_cursor, '-', 2)::bigint;
      return;
    exception when others then
      -- an out-of-range number: reported as a malformed cursor below
    end;
  end if;
  raise exception 'Invalid cursor: % is not a cursor', coalesce(quote_literal(left(p_cursor, 60)), 'null')
    using errcode = 'PE009',
          detail = json_build_object('cursor', left(p_cursor, 100), 'reason', 'malformed')::text,
          hint = 'A cursor is ''<transaction id>-<position>'' as handed out by pgevents, e.g. ''1234-56''; or use ''start'' or ''end''.';
end;
$$;

-- Where p_from points: 'start' (or null), 'end' (after the last event safe to read now), or a
-- cursor, which must be the start or the place of an event of this store that is safe to read.
-- Raises PE009 for a malformed or unknown cursor, so that a typo never silently starts from zero.
create or replace function {{schema}}.resolve_cursor(p_from text, out transaction_id xid8, out "position" bigint)
language plpgsql
stable
set search_path = {{schema}}, pg_temp
as $$
declare
  v_horizon xid8 := safe_horizon();
  v_cursor record;
begin
  transaction_id := '0';
  "position" := 0;
  if p_from is null or p_from = 'start' then
    return;
  end if;
  if p_from = 'end' then
    select e.transaction_id, e.id into v_cursor
      from events e
     where e.transaction_id < v_horizon
     order by e.transaction_id desc, e.id desc
     limit 1;
    if found then
      transaction_id := v_cursor.transaction_id;
      "position" := v_cursor.id;
    end if;
    return;
  end if;
  select c.transaction_id, c."position" into v_cursor from parse_cursor(p_from) c;
  if v_cursor.transaction_id = '0'::xid8 and v_cursor."position" = 0 then
    return;
  end if;
  if not exists (select 1 from events e
                  where e.transaction_id = v_cursor.transaction_id and e.id = v_cursor."position"
                    and e.transaction_id < v_horizon) then
    raise exception 'Unknown cursor: % is not the place of an event in this store', p_from
      using errcode = 'PE009',
            detail = json_build_object('cursor', p_from, 'reason', 'unknown')::text,
            hint = 'Use a cursor handed out by this store (readAll, a subscription, pgevents tail), or ''start'' or ''end''.';
  end if;
  transaction_id := v_cursor.transaction_id;
  "position" := v_cursor."position";
end;
$$;
