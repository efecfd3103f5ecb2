-- Personal data (crypto-shredding): declarations, the encryption of declared fields on every
-- append (the events_vault trigger), their decryption on reads for roles that may read the keys,
-- and forget_subject. See docs/personal-data.md.
--
-- A personal field is stored as the marker {"$pgevents": "encrypted", "key": <subject_keys.id>,
-- "data": "<base64 of a random IV and the AES-256-CBC ciphertext of the field's JSON text>"}. A
-- field whose key is gone (forgotten) reads as {"$pgevents": "erased"}. pgcrypto (one extension
-- per database, wherever it is installed) does the cryptography; it is created (in a schema of its
-- own, pgcrypto) by the first declaration of a database that lacks it, so that stores without
-- personal data never need it.

-- The schema pgcrypto is installed in, creating it first when the database has none.
create or replace function {{schema}}.pgcrypto_schema() returns name
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_schema name;
  v_state text;
begin
  select n.nspname into v_schema from pg_extension x join pg_namespace n on n.oid = x.extnamespace where x.extname = 'pgcrypto';
  if v_schema is null then
    begin
      create schema if not exists pgcrypto;
      create extension if not exists pgcrypto schema pgcrypto;
    exception
      when insufficient_privilege or undefined_file or feature_not_supported then
        get stacked diagnostics v_state = returned_sqlstate;
        raise exception 'Personal data needs the pgcrypto extension, which could not be created: %', sqlerrm
          using errcode = v_state,
                hint = 'Ask the database''s owner to run: create schema pgcrypto; create extension pgcrypto schema pgcrypto; (on embedded PGlite: a PGlite handed to openEventStore must be created with extensions: { pgcrypto } from @electric-sql/pglite/contrib/pgcrypto).';
    end;
    -- As any extension's functions are by default: the installing role's default privileges
    -- (migration 0004) would otherwise keep them from every other store's owner in the database.
    grant usage on schema pgcrypto to public;
    grant execute on all functions in schema pgcrypto to public;
    select n.nspname into v_schema from pg_extension x join pg_namespace n on n.oid = x.extnamespace where x.extname = 'pgcrypto';
  end if;
  return v_schema;
end;
$$;

-- Generates seal_value and unseal_value, which call pgcrypto in its schema (unseal_value as the
-- store's owner, whose default privileges may keep pgcrypto's functions from other roles; it
-- decrypts only with a key its caller hands it, and only personal data readers may call it), and makes the events
-- table's trigger events_vault exist while any type is declared (a store without declarations has
-- no such trigger: its appends pay nothing). Regenerates the code of every trigger projection, whose
-- handlers take the declared fields decrypted.
create or replace function {{schema}}.generate_personal_data_code() returns void
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_declared boolean := exists (select 1 from personal_data_declarations);
  v_crypto name;
  v_projection text;
  v_reader name;
begin
  if v_declared then
    v_crypto := pgcrypto_schema();
    execute format($f$
create or replace function {{schema}}.seal_value(p_key bytea, p_value jsonb) returns text
language sql
volatile
set search_path = {{schema}}, pg_temp
as $s$
  select encode(v.iv || %1$I.encrypt_iv(convert_to(p_value::text, 'UTF8'), p_key, v.iv, 'aes-cbc/pad:pkcs'), 'base64')
    from (select %1$I.gen_random_bytes(16) as iv) v
$s$;
create or replace function {{schema}}.unseal_value(p_key bytea, p_data text) returns jsonb
language sql
immutable
security definer
set search_path = {{schema}}, pg_temp
as $s$
  select convert_from(%1$I.decrypt_iv(substr(d.raw, 17), p_key, substr(d.raw, 1, 16), 'aes-cbc/pad:pkcs'), 'UTF8')::jsonb
    from (select decode(p_data, 'base64') as raw) d
$s$;
create or replace function {{schema}}.new_subject_key() returns bytea
language sql
volatile
set search_path = {{schema}}, pg_temp
as $s$ select %1$I.gen_random_bytes(32) $s$;
revoke all on function {{schema}}.seal_value(bytea, jsonb), {{schema}}.unseal_value(bytea, text), {{schema}}.new_subject_key() from public;
$f$, v_crypto);
    for v_reader in select r.role_name from roles r
                     where r.access = 'personal_data_reader' and to_regrole(quote_ident(r.role_name)) is not null loop
      execute format('grant execute on function {{schema}}.unseal_value(bytea, text) to %I', v_reader);
    end loop;
    execute 'create or replace trigger events_vault before insert on {{schema}}.events for each row execute function {{schema}}.tg_events__vault()';
  else
    drop trigger if exists events_vault on {{schema}}.events;
  end if;
  for v_projection in select p.name from projections p where p.kind = 'trigger' loop
    perform generate_projection_code(v_projection);
  end loop;
end;
$$;

-- Declares the personal fields of event type p_type (dot-separated paths in the body) and whose
-- they are: p_subject is 'stream' (the event's stream), 'body.<path>' or 'metadata.<path>' (a
-- field's text). From then on, every append of the type (append_events, plain INSERT, COPY,
-- import_events) stores those fields encrypted with the subject's key. Declaring a type again
-- replaces its declaration for events appended later; reads go on decrypting every field any of its
-- declarations named (revealed_fields). Returns the declaration.
create or replace function {{schema}}.declare_personal_data(p_type text, p_fields text[], p_subject text)
returns {{schema}}.personal_data_declarations
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_source text := case when p_subject = 'stream' then 'stream' else split_part(p_subject, '.', 1) end;
  v_path text := case when p_subject = 'stream' then null else nullif(substr(p_subject, length(split_part(p_subject, '.', 1)) + 2), '') end;
  v_row personal_data_declarations;
begin
  if p_type is null or btrim(p_type) = '' then
    raise exception 'Invalid personal data declaration: the event type is missing'
      using errcode = 'PE025', detail = json_build_object('field', 'type')::text;
  end if;
  if p_fields is null or cardinality(p_fields) = 0
     or exists (select 1 from unnest(p_fields) f where f is null or f !~ '^[^.]+(\.[^.]+)*$') then
    raise exception 'Invalid personal data declaration of %: fields must be one or more dot-separated paths in the body', p_type
      using errcode = 'PE025', detail = json_build_object('field', 'fields', 'type', p_type)::text,
            hint = 'For example: array[''email'', ''address.street''].';
  end if;
  if v_source not in ('stream', 'body', 'metadata') or (v_source <> 'stream' and v_path is null) then
    raise exception 'Invalid personal data declaration of %: the subject % is not ''stream'', ''body.<path>'' or ''metadata.<path>''', p_type, coalesce(p_subject, 'null')
      using errcode = 'PE025', detail = json_build_object('field', 'subject', 'type', p_type)::text;
  end if;
  if v_source = 'body' and exists (select 1 from unnest(p_fields) f where f = v_path or v_path like f || '.%') then
    raise exception 'Invalid personal data declaration of %: the subject field % would be encrypted itself', p_type, v_path
      using errcode = 'PE025', detail = json_build_object('field', 'subject', 'type', p_type)::text,
            hint = 'Name the subject by a field that is not personal (an id), or by the stream.';
  end if;
  insert into personal_data_declarations as d (type, fields, revealed_fields, subject_source, subject_path)
  values (p_type, p_fields, p_fields, v_source, v_path)
  on conflict (type) do update set fields = excluded.fields, subject_source = excluded.subject_source,
                                   revealed_fields = array(select distinct f from unnest(d.revealed_fields || excluded.fields) f order by f),
                                   subject_path = excluded.subject_path, declared_at = statement_timestamp()
  returning * into v_row;
  perform generate_personal_data_code();
  return v_row;
end;
$$;

-- Before each row inserted into events while any type is declared: the declared fields of a row of
-- a declared type are replaced by their encrypted markers (the subject's key is made on first use).
-- Runs after the other BEFORE triggers (by name), so that validations and upcasters see the
-- plaintext and the stored body is the current shape.
create or replace function {{schema}}.tg_events__vault() returns trigger
language plpgsql
security definer
set search_path = {{schema}}, pg_temp
as $$
declare
  v_declared personal_data_declarations;
  v_subject text;
  v_key subject_keys;
  v_field text;
  v_path text[];
  v_value jsonb;
begin
  -- A row moved between the live and the archived part of the log (set_stream_archived) is stored
  -- already: not checked, upcast or encrypted again. The setting is trusted only there: an INSERT
  -- while it is set is refused by tg_events__after_insert.
  if coalesce(current_setting('pgevents.archive_{{schema}}', true), '') <> '' then
    return new;
  end if;
  select * into v_declared from personal_data_declarations d where d.type = new.type;
  if not found then
    return new;
  end if;
  v_subject := case v_declared.subject_source
                 when 'stream' then new.uuid::text
                 when 'body' then new.body #>> string_to_array(v_declared.subject_path, '.')
                 else new.metadata #>> string_to_array(v_declared.subject_path, '.') end;
  if v_subject is null then
    raise exception 'Invalid event of type % (Stream: %): its personal data names no subject (% % is missing)', new.type, new.uuid, v_declared.subject_source, v_declared.subject_path
      using errcode = 'PE003',
            detail = json_build_object('stream', new.uuid, 'field', v_declared.subject_source, 'type', new.type, 'path', v_declared.subject_path)::text,
            hint = 'personal_data_declarations says which field names the subject of the type''s personal data.';
  end if;
  foreach v_field in array v_declared.fields loop
    v_path := string_to_array(v_field, '.');
    v_value := new.body #> v_path;
    continue when v_value is null or (jsonb_typeof(v_value) = 'object' and v_value ? '$pgevents');
    if v_key.id is null then
      select * into v_key from subject_keys k where k.subject = v_subject and k.retired_at is null;
      if not found then
        insert into subject_keys as k (subject, key) values (v_subject, new_subject_key())
        on conflict (subject) where retired_at is null do nothing
        returning * into v_key;
        if v_key.id is null then
          select * into v_key from subject_keys k where k.subject = v_subject and k.retired_at is null;
        end if;
      end if;
    end if;
    new.body := jsonb_set(new.body, v_path,
                          jsonb_build_object('$pgevents', 'encrypted', 'key', v_key.id, 'data', seal_value(v_key.key, v_value)));
  end loop;
  return new;
end;
$$;

-- p_body (of stored type p_type) with its encrypted fields decrypted, for a role that may read the
-- keys (the store's owner, and SECURITY DEFINER code such as the projections' triggers and
-- replays); a field whose subject was forgotten reads {"$pgevents": "erased"}. For other roles the
-- body as stored (the encrypted markers). Runs with the caller's rights.
create or replace function {{schema}}.reveal_personal_data(p_type text, p_body jsonb) returns jsonb
language plpgsql
stable
set search_path = {{schema}}, pg_temp
as $$
declare
  v_fields text[];
  v_field text;
  v_path text[];
  v_value jsonb;
  v_key bytea;
begin
  select d.revealed_fields into v_fields from personal_data_declarations d where d.type = p_type;
  if v_fields is null or not has_table_privilege('{{schema}}.subject_keys', 'select') then
    return p_body;
  end if;
  foreach v_field in array v_fields loop
    v_path := string_to_array(v_field, '.');
    v_value := p_body #> v_path;
    continue when v_value is null or jsonb_typeof(v_value) <> 'object' or v_value->>'$pgevents' is distinct from 'encrypted';
    select k.key into v_key from subject_keys k where k.id = (v_value->>'key')::bigint;
    p_body := jsonb_set(p_body, v_path,
                        case when v_key is null then '{"$pgevents": "erased"}'::jsonb else unseal_value(v_key, v_value->>'data') end);
  end loop;
  return p_body;
end;
$$;

-- Forgets data subject p_subject (crypto-shredding), in one transaction:
-- 1. reads the subject's plaintext values (the text of the string and number leaves, 4 characters
--    or more, of every field its keys encrypted), to find them in pgevents' own error records;
-- 2. deletes its keys (the current one and any retired by rotate_subject_key), so that its personal
--    fields read {"$pgevents": "erased"} from then on, everywhere;
-- 3. cancels every unfinished online rebuild of a projection that handles a declared type (its
--    shadow tables were filled with plaintext; run it again afterwards);
-- 4. replays every trigger projection that handles a declared type (snapshots included), so that
--    read models hold the erased values;
-- 5. resets to the start every async projection that handles a declared type: its tables are
--    emptied now and its runner applies the events again, reading the erased values;
-- 6. replaces those values by [erased] in the errors pgevents keeps (subscriptions.last_error,
--    rebuilds.error);
-- 7. appends the audit event pgevents.subject_forgotten to the store's audit stream
--    (00000000-0000-0000-0000-0000000f0e75): the keys' ids, who, when, why and what it did; no
--    personal data, not even the subject.
-- Returns the audit event's body, with the tables it changed (tables: what a VACUUM should compact
-- next, outside this transaction) and the plain subscriptions that delivered declared types to
-- other systems, which it cannot reach (external_subscriptions). An unknown subject is refused
-- (PE025).
create or replace function {{schema}}.forget_subject(p_subject text, p_reason text) returns jsonb
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_keys bigint[];
  v_values text[];
  v_declared text[] := array(select d.type from personal_data_declarations d order by d.type);
  v_projection text;
  v_replayed text[] := '{}';
  v_reset text[] := '{}';
  v_cancelled text[] := '{}';
  v_external text[];
  v_tables text[] := array['{{schema}}.subject_keys'];
  v_table text;
  v_redacted bigint := 0;
  v_count bigint;
  v_value text;
  v_body jsonb;
begin
  if p_reason is null or btrim(p_reason) = '' then
    raise exception 'Invalid forget: a reason is required'
      using errcode = 'PE025', detail = json_build_object('field', 'reason')::text,
            hint = 'Say why (it is recorded in the audit event), e.g. ''erasure request #123''.';
  end if;
  select array_agg(l.id order by l.id) into v_keys
    from (select k.id from subject_keys k where k.subject = p_subject for update) l;
  if v_keys is null then
    raise exception 'Unknown data subject: no key is stored for it (never used, or already forgotten)'
      using errcode = 'PE025',
            hint = 'Check the subject''s spelling: it is the text of the declared subject field (or the stream id).';
  end if;
  -- Longest first, so that a value inside another is replaced after it.
  select array_agg(v.value order by length(v.value) desc, v.value) into v_values
    from (select distinct l.leaf #>> '{}' as value
            from events e
            join personal_data_declarations d on d.type = e.type
            cross join lateral unnest(d.revealed_fields) f
            cross join lateral (select e.body #> string_to_array(f, '.') as marker) m
            join subject_keys k on k.subject = p_subject
                               and jsonb_typeof(m.marker) = 'object' and m.marker->>'$pgevents' = 'encrypted'
                               and k.id = (m.marker->>'key')::bigint
            cross join lateral jsonb_path_query(unseal_value(k.key, m.marker->>'data'), 'strict $.**') l(leaf)
           where e.type = any(v_declared)
             and jsonb_typeof(l.leaf) in ('string', 'number')) v
   where length(v.value) >= 4;
  delete from subject_keys k where k.subject = p_subject;

  for v_projection in
    select r.projection from rebuilds r
     where r.phase <> 'done'
       and r.projection in (select h.projection from projection_handlers h where h.event_type = any(v_declared))
     order by r.projection
  loop
    perform rebuild_cancel(v_projection);
    v_cancelled := v_cancelled || v_projection;
  end loop;
  for v_projection in
    select distinct h.projection from projection_handlers h join projections p on p.name = h.projection
     where p.kind = 'trigger' and h.event_type = any(v_declared)
     order by h.projection
  loop
    perform replay_projection(v_projection);
    v_replayed := v_replayed || v_projection;
    v_tables := v_tables || (select p.tables from projections p where p.name = v_projection);
  end loop;
  for v_projection in
    select s.name from subscriptions s where s.kind = 'projection' and s.types && v_declared order by s.name
  loop
    foreach v_table in array (select s.tables from subscriptions s where s.name = v_projection) loop
      if not has_table_privilege(v_table, 'truncate') then
        raise exception 'Cannot forget: role % may not empty table % of async projection %, which holds the subject''s personal data', current_user, v_table, v_projection
          using errcode = '42501',
                detail = json_build_object('projection', v_projection, 'table', v_table, 'role', current_user)::text,
                hint = format('Grant it TRUNCATE on %s, then forget again (nothing was changed).', v_table);
      end if;
    end loop;
    perform reset_subscription(v_projection, 'start');
    v_reset := v_reset || v_projection;
    v_tables := v_tables || (select s.tables from subscriptions s where s.name = v_projection);
  end loop;
  select coalesce(array_agg(s.name order by s.name), '{}') into v_external from subscriptions s
   where s.kind = 'subscription' and (s.types is null or s.types && v_declared);

  foreach v_value in array coalesce(v_values, '{}') loop
    update subscriptions s set last_error = replace(s.last_error, v_value, '[erased]')
     where strpos(s.last_error, v_value) > 0;
    get diagnostics v_count = row_count;
    v_redacted := v_redacted + v_count;
    update rebuilds r set error = replace(r.error::text, v_value, '[erased]')::jsonb
     where strpos(r.error::text, v_value) > 0;
    get diagnostics v_count = row_count;
    v_redacted := v_redacted + v_count;
  end loop;
  v_tables := v_tables || array['{{schema}}.subscriptions', '{{schema}}.rebuilds'];

  v_body := jsonb_build_object('keys', to_jsonb(v_keys), 'reason', p_reason, 'forgotten_by', session_user::text,
                               'forgotten_at', statement_timestamp(), 'replayed', to_jsonb(v_replayed),
                               'reset', to_jsonb(v_reset), 'rebuilds_cancelled', to_jsonb(v_cancelled),
                               'errors_redacted', v_redacted);
  -- A strict store (set_strict_event_types) takes only declared types: declare the audit's.
  if strict_event_types() and not exists (select 1 from event_type_declarations d where d.type = 'pgevents.subject_forgotten') then
    perform define_event_type('pgevents.subject_forgotten');
  end if;
  insert into events (uuid, type, body, metadata)
  values ('00000000-0000-0000-0000-0000000f0e75', 'pgevents.subject_forgotten', v_body, '{}');
  return v_body || jsonb_build_object('tables', to_jsonb(array(select distinct t from unnest(v_tables) t order by t)),
                                      'external_subscriptions', to_jsonb(v_external));
end;
$$;

-- Rotates data subject p_subject's key: the current key is retired (it still decrypts the fields it
-- encrypted, and encrypts nothing more) and the subject's next personal field is encrypted with a
-- new key, made then. Events are never rewritten. Returns the id of the retired key; a subject
-- without a current key is refused (PE025).
create or replace function {{schema}}.rotate_subject_key(p_subject text) returns bigint
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_key_id bigint;
begin
  update subject_keys k set retired_at = statement_timestamp()
   where k.subject = p_subject and k.retired_at is null
  returning k.id into v_key_id;
  if v_key_id is null then
    raise exception 'Unknown data subject: no current key is stored for it (never used, or forgotten)'
      using errcode = 'PE025',
            hint = 'Check the subject''s spelling: it is the text of the declared subject field (or the stream id).';
  end if;
  return v_key_id;
end;
$$;
