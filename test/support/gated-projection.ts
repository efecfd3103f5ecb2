/** A projection whose handler waits at events with `"gate": true` while the test holds advisory lock (4242, 1). */
export const GATED_PROJECTION_SQL = `
  create table public.gated_rows (position bigint primary key, uuid uuid not null);
  create function public.gated_row(e pgevents.events) returns void
  language plpgsql set search_path = public, pg_temp
  as $$
  begin
    if (e.body ->> 'gate') = 'true' then
      perform pg_advisory_xact_lock_shared(4242, 1);
    end if;
    insert into gated_rows (position, uuid) values (e.id, e.uuid);
  end;
  $$;
`;
