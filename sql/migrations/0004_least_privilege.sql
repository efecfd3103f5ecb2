-- pgevents 0004: least privilege.
-- Roles: the owner (the role that runs the migrations: installs the schema, defines, replays and
-- rebuilds projections), writers (append through append_events or a plain INSERT, and read) and
-- readers (read events and read models). Writers and readers get only what grant_writer and
-- grant_reader give them; every function is closed to PUBLIC.

revoke all on all tables in schema {{schema}} from public;

revoke all on all sequences in schema {{schema}} from public;

revoke all on all functions in schema {{schema}} from public;

-- Functions the installing role creates later (later migrations, generated projection code) must be
-- closed too. A per-schema ALTER DEFAULT PRIVILEGES can only add to the global defaults, never take
-- PUBLIC's EXECUTE away, so this has to be the installing role's database-wide default: functions it
-- creates in any schema of this database are no longer executable by PUBLIC unless granted.
alter default privileges revoke execute on functions from public;
