-- The schema that holds a projection's shadow tables (p_purpose 'rebuild') or verify's scratch
-- copy ('verify'): readable when it fits in 63 bytes, else shortened with a hash of the store schema.
create or replace function {{schema}}.rebuild_schema_name(p_name text, p_purpose text) returns name
language sql
immutable
set search_path = {{schema}}, pg_temp
as $$
  select case when octet_length('{{schema}}_' || p_purpose || '_' || p_name) <= 63
              then '{{schema}}_' || p_purpose || '_' || p_name
              else 'pe_' || left(md5('{{schema}}'), 8) || '_' || left(p_purpose, 2) || '_' || p_name end::name;
$$;
