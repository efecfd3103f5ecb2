-- The users read model, shared by the seed, pgevents and Emmett's inline projection
-- (seed data.sql, table part).
-- Fixed: the seed wrote DEFAULT 'NOW()', a string literal that PostgreSQL turns into a constant
-- timestamp when the table is created; now() is what was meant. The projection functions set both
-- columns explicitly, so this changes nothing measured.

CREATE TABLE "users" (
"id" serial primary key not null,
"uuid" uuid NOT NULL,
"name" text NOT NULL,
"inserted_at" timestamp(6) NOT NULL DEFAULT now(),
"updated_at" timestamp(6) NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX "users_uuid_index" ON "users" USING btree(uuid);
