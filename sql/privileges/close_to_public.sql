-- Every table, view, sequence and function of the store is closed to PUBLIC: the owner (the role
-- that runs the migrations) may do everything, writers and readers only what grant_writer and
-- grant_reader give them. The installing role's default privileges close the functions it creates
-- later (migration 0004); this closes everything again whenever the definitions are applied,
-- whoever applies them, so that a store has the same privileges however it got to this version.
-- The store's schema holds the store's objects only.
revoke all on all tables in schema {{schema}} from public;
revoke all on all sequences in schema {{schema}} from public;
revoke all on all functions in schema {{schema}} from public;
