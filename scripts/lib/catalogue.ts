/**
 * A deterministic description of everything pgevents owns in a store schema, as SQL-like text:
 * the schema, its types, tables (columns, constraints, indexes, triggers, policies, rules),
 * sequences, views, materialized views, functions and procedures with their full definitions,
 * comments, privileges and the database's default privileges; and what pgevents puts outside the
 * schema: triggers that call the schema's functions, the materialized views it defines, the
 * privileges it grants on read-model tables and takes away from projection handlers.
 *
 * Used by `npm run schema:dump` (sql/schema.sql) and by the upgrade tests, which compare the
 * description of an upgraded store with that of a fresh one. Everything is sorted, and privileges
 * are written as the grants and revokes that lead from PostgreSQL's defaults to them, so the order
 * in which they were granted does not show.
 */

/** One connection (a `pg.Client`, a PGlite instance): the description runs in a transaction of its own. */
export interface CatalogueSession {
  query(sql: string, params?: unknown[]): Promise<{ rows: Record<string, unknown>[] }>;
}

type Row = Record<string, unknown>;

/** An ACL as items `grantee|privilege|grantable|grantor`, from aclexplode, with PUBLIC as `public`; null: none. */
function aclItems(acl: string): string {
  // aclexplode refuses an empty ACL (it has no dimension).
  return `case when coalesce(cardinality(${acl}), 0) = 0 then '{}'::text[] else array(select concat_ws('|',
      case when item.grantee = 0 then 'public' else quote_ident(pg_get_userbyid(item.grantee)) end,
      lower(item.privilege_type), item.is_grantable::text, quote_ident(pg_get_userbyid(item.grantor)))
    from aclexplode(${acl}) item) end`;
}

/**
 * Columns `acl` and `default_acl` of an object with the ACL `acl`, the kind `kind` (an SQL
 * expression of acldefault's letter) and the owner `owner`. A null ACL is the default one.
 */
function aclColumns(acl: string, kind: string, owner: string): string {
  return `${aclItems(`coalesce(${acl}, acldefault(${kind}, ${owner}))`)} as acl,
          ${aclItems(`acldefault(${kind}, ${owner})`)} as default_acl`;
}

function text(value: unknown): string {
  return value === null || value === undefined ? '' : String(value);
}

function texts(value: unknown): string[] {
  return Array.isArray(value) ? value.map(text) : [];
}

function literal(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function sortBy<T>(items: T[], key: (item: T) => string): T[] {
  return [...items].sort((a, b) => byName(key(a), key(b)));
}

interface AclItem {
  grantee: string;
  privilege: string;
  grantable: boolean;
  grantor: string;
}

function parseAcl(items: string[]): AclItem[] {
  return items.map((item) => {
    const [grantee = '', privilege = '', grantable = '', grantor = ''] = item.split('|');
    return { grantee, privilege, grantable: grantable === 'true', grantor };
  });
}

function aclKey(item: AclItem): string {
  return [item.grantee, item.privilege, item.grantable, item.grantor].join('|');
}

/** Items of `a` that are not in `b`. */
function aclMinus(a: AclItem[], b: AclItem[]): AclItem[] {
  const keys = new Set(b.map(aclKey));
  return a.filter((item) => !keys.has(aclKey(item)));
}

/**
 * The statements that lead from `defaults` to `actual` on `object` (e.g. `function pgevents.f(uuid)`,
 * `table public.users`): revokes, then grants, privileges and grantees sorted. `owner` is the usual
 * grantor; another one is named (`granted by`).
 */
function privilegeStatements(object: string, owner: string, actual: AclItem[], defaults: AclItem[]): string[] {
  const statements: string[] = [];
  const revoked = new Map<string, string[]>();
  for (const item of aclMinus(defaults, actual)) {
    revoked.set(item.grantee, [...(revoked.get(item.grantee) ?? []), item.privilege]);
  }
  for (const [grantee, privileges] of sortBy([...revoked], ([name]) => name)) {
    statements.push(`revoke ${[...new Set(privileges)].sort(byName).join(', ')} on ${object} from ${grantee};`);
  }
  const granted = new Map<string, string[]>();
  for (const item of aclMinus(actual, defaults)) {
    const key = [item.grantee, item.grantable, item.grantor].join('|');
    granted.set(key, [...(granted.get(key) ?? []), item.privilege]);
  }
  for (const [key, privileges] of sortBy([...granted], ([name]) => name)) {
    const [grantee = '', grantable = '', grantor = ''] = key.split('|');
    const suffix = `${grantable === 'true' ? ' with grant option' : ''}${grantor === owner ? '' : ` granted by ${grantor}`}`;
    statements.push(`grant ${[...new Set(privileges)].sort(byName).join(', ')} on ${object} to ${grantee}${suffix};`);
  }
  return statements;
}

/** Column privileges of one relation: `grant insert (a, b) on table t to r;`, columns in table order. */
function columnPrivilegeStatements(relation: string, owner: string, columns: Row[]): string[] {
  const granted = new Map<string, string[]>();
  for (const column of columns) {
    for (const item of parseAcl(texts(column.acl))) {
      const key = [item.privilege, item.grantee, item.grantable, item.grantor].join('|');
      granted.set(key, [...(granted.get(key) ?? []), text(column.name)]);
    }
  }
  return sortBy([...granted], ([key]) => key).map(([key, names]) => {
    const [privilege = '', grantee = '', grantable = '', grantor = ''] = key.split('|');
    const suffix = `${grantable === 'true' ? ' with grant option' : ''}${grantor === owner ? '' : ` granted by ${grantor}`}`;
    return `grant ${privilege} (${names.join(', ')}) on table ${relation} to ${grantee}${suffix};`;
  });
}

function aclOf(row: Row, object: string, owner: string): string[] {
  return privilegeStatements(object, owner, parseAcl(texts(row.acl)), parseAcl(texts(row.default_acl)));
}

function commentOn(object: string, comment: unknown): string[] {
  return comment === null || comment === undefined ? [] : [`comment on ${object} is ${literal(String(comment))};`];
}

function ownerOf(object: string, owner: string, schemaOwner: string): string[] {
  return owner === schemaOwner ? [] : [`alter ${object} owner to ${owner};`];
}

function group<T>(rows: T[], key: (row: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const row of rows) groups.set(key(row), [...(groups.get(key(row)) ?? []), row]);
  return groups;
}

const RELATION_COLUMNS = `
  c.oid::text as oid,
  quote_ident(n.nspname) || '.' || quote_ident(c.relname) as name,
  c.relkind::text as kind,
  quote_ident(pg_get_userbyid(c.relowner)) as owner,
  c.relpersistence::text as persistence,
  c.reloptions::text[] as options,
  c.relrowsecurity as row_security,
  c.relforcerowsecurity as force_row_security,
  c.relreplident::text as replica_identity,
  c.relispopulated as populated,
  case when c.relkind = 'p' then pg_get_partkeydef(c.oid) end as partition_key,
  case when c.relispartition then pg_get_expr(c.relpartbound, c.oid) end as partition_bound,
  (select quote_ident(pn.nspname) || '.' || quote_ident(pc.relname)
     from pg_inherits i join pg_class pc on pc.oid = i.inhparent join pg_namespace pn on pn.oid = pc.relnamespace
    where i.inhrelid = c.oid and c.relispartition) as partition_of,
  case when c.relkind in ('v', 'm') then pg_get_viewdef(c.oid, true) end as definition,
  obj_description(c.oid, 'pg_class') as comment,
  ${aclColumns('c.relacl', `(case when c.relkind = 'S' then 's' else 'r' end)::"char"`, 'c.relowner')}`;

/**
 * Describes the store schema `schema` as SQL-like text, the same on every run for the same
 * catalogue. Runs in a read-only transaction of its own on `session` (call it outside one), with
 * `search_path = pg_catalog`, so that every name outside pg_catalog is written schema-qualified.
 */
export async function describeSchema(session: CatalogueSession, schema: string): Promise<string> {
  await session.query('begin isolation level repeatable read read only');
  try {
    await session.query(`select set_config('search_path', 'pg_catalog', true), set_config('quote_all_identifiers', 'off', true)`);
    return await describe(session, schema);
  } finally {
    await session.query('rollback');
  }
}

async function describe(session: CatalogueSession, schema: string): Promise<string> {
  const query = async (sql: string, params: unknown[] = []): Promise<Row[]> => (await session.query(sql, params)).rows;

  const [schemaRow] = await query(
    `select n.oid::text as oid, quote_ident(n.nspname) as name, quote_ident(pg_get_userbyid(n.nspowner)) as owner,
            obj_description(n.oid, 'pg_namespace') as comment, ${aclColumns('n.nspacl', `'n'`, 'n.nspowner')}
       from pg_namespace n where n.nspname = $1`,
    [schema],
  );
  if (!schemaRow) return `-- schema ${schema} does not exist\n`;
  const ns = text(schemaRow.oid);
  const schemaName = text(schemaRow.name);
  const schemaOwner = text(schemaRow.owner);
  const blocks: string[][] = [];
  const section = (title: string) => blocks.push([`-- ${title} ${'-'.repeat(Math.max(3, 96 - title.length))}`]);

  // What pgevents puts outside the schema, as recorded in its own tables.
  const storeTable = async (table: string): Promise<boolean> =>
    (await query(`select to_regclass($1) is not null as present`, [`${schemaName}.${table}`]))[0]?.present === true;
  const readModelTables: string[] = [];
  const viewProjections: string[] = [];
  const handlers: string[] = [];
  if (await storeTable('projections')) {
    for (const row of await query(
      `select p.kind, t from ${schemaName}.projections p, unnest(p.tables) t where to_regclass(t) is not null`,
    )) {
      (row.kind === 'materialized_view' ? viewProjections : readModelTables).push(text(row.t));
    }
  }
  if (await storeTable('subscriptions')) {
    for (const row of await query(`select t from ${schemaName}.subscriptions s, unnest(s.tables) t where to_regclass(t) is not null`)) {
      readModelTables.push(text(row.t));
    }
  }
  if (await storeTable('projection_handlers')) {
    for (const row of await query(
      `select distinct to_regprocedure(h.handler)::oid::text as oid from ${schemaName}.projection_handlers h
        where to_regprocedure(h.handler) is not null`,
    )) {
      handlers.push(text(row.oid));
    }
  }
  const described = `(c.relnamespace = $1::oid or c.oid = any(select to_regclass(v) from unnest($2::text[]) v))`;
  const relationParams = [ns, viewProjections];

  // Schema and default privileges.
  section('schema');
  blocks.push([
    `create schema ${schemaName};`,
    ...commentOn(`schema ${schemaName}`, schemaRow.comment),
    ...aclOf(schemaRow, `schema ${schemaName}`, schemaOwner),
  ]);
  const defaults = await query(
    `select quote_ident(pg_get_userbyid(d.defaclrole)) as role, d.defaclnamespace = 0 as global, d.defaclobjtype::text as kind,
            ${aclItems('d.defaclacl')} as acl,
            case when d.defaclnamespace = 0
                 then ${aclItems(`acldefault((case d.defaclobjtype when 'S' then 's' else d.defaclobjtype end)::"char", d.defaclrole)`)}
                 else '{}'::text[] end as default_acl
       from pg_default_acl d where d.defaclnamespace in (0, $1::oid)`,
    [ns],
  );
  const defaultObjects: Record<string, string> = { r: 'tables', S: 'sequences', f: 'functions', T: 'types', n: 'schemas' };
  const defaultLines: string[] = [];
  for (const row of defaults) {
    const prefix = `alter default privileges for role ${text(row.role)}${row.global ? '' : ` in schema ${schemaName}`}`;
    const objects = defaultObjects[text(row.kind)] ?? text(row.kind);
    for (const statement of aclOf(row, objects, text(row.role))) {
      defaultLines.push(`${prefix} ${statement.replace(/ granted by [^;]+;$/, ';')}`);
    }
  }
  if (defaultLines.length > 0) blocks.push(defaultLines.sort(byName));

  // Types that are not the row type of a relation.
  const types = await query(
    `select format_type(t.oid, null) as name, t.typtype::text as kind, quote_ident(pg_get_userbyid(t.typowner)) as owner,
            format_type(t.typbasetype, t.typtypmod) as base, t.typnotnull as not_null, t.typdefault as default,
            array(select e.enumlabel::text from pg_enum e where e.enumtypid = t.oid order by e.enumsortorder) as labels,
            array(select format('constraint %s %s', quote_ident(con.conname), pg_get_constraintdef(con.oid))
                    from pg_constraint con where con.contypid = t.oid and con.contype <> 'n' order by con.conname) as checks,
            array(select format('%s %s', quote_ident(a.attname), format_type(a.atttypid, a.atttypmod))
                    from pg_attribute a where a.attrelid = t.typrelid and a.attnum > 0 and not a.attisdropped order by a.attnum) as attributes,
            obj_description(t.oid, 'pg_type') as comment, ${aclColumns('t.typacl', `'T'`, 't.typowner')}
       from pg_type t
      where t.typnamespace = $1::oid and t.typtype in ('c', 'd', 'e', 'r', 'm')
        and (t.typtype <> 'c' or (select c.relkind from pg_class c where c.oid = t.typrelid) = 'c')`,
    [ns],
  );
  if (types.length > 0) section('types');
  for (const type of sortBy(types, (row) => text(row.name))) {
    const name = text(type.name);
    const lines: string[] = [];
    if (type.kind === 'e') lines.push(`create type ${name} as enum (${texts(type.labels).map(literal).join(', ')});`);
    else if (type.kind === 'c') lines.push(`create type ${name} as (${texts(type.attributes).join(', ')});`);
    else if (type.kind === 'd') {
      const parts = [`create domain ${name} as ${text(type.base)}`];
      if (type.default !== null && type.default !== undefined) parts.push(`default ${text(type.default)}`);
      if (type.not_null) parts.push('not null');
      lines.push(`${[...parts, ...texts(type.checks)].join(' ')};`);
    } else lines.push(`-- type ${name}: a range type`);
    lines.push(...ownerOf(`type ${name}`, text(type.owner), schemaOwner));
    lines.push(...commentOn(`type ${name}`, type.comment));
    lines.push(...aclOf(type, `type ${name}`, text(type.owner)));
    blocks.push(lines);
  }

  // Relations and their parts.
  const relations = await query(
    `select ${RELATION_COLUMNS} from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where ${described} and c.relkind in ('r', 'p', 'v', 'm', 'S', 'f')`,
    relationParams,
  );
  const columns = group(
    await query(
      `select a.attrelid::text as relation, quote_ident(a.attname) as name, format_type(a.atttypid, a.atttypmod) as type,
              a.attnotnull as not_null, a.attidentity::text as identity, a.attgenerated::text as generated,
              pg_get_expr(d.adbin, d.adrelid) as default,
              case when a.attcollation <> t.typcollation
                   then (select quote_ident(cn.nspname) || '.' || quote_ident(co.collname)
                           from pg_collation co join pg_namespace cn on cn.oid = co.collnamespace where co.oid = a.attcollation) end as collation,
              col_description(a.attrelid, a.attnum) as comment,
              ${aclItems(`a.attacl`)} as acl
         from pg_attribute a
         join pg_class c on c.oid = a.attrelid
         join pg_type t on t.oid = a.atttypid
         left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
        where ${described} and c.relkind in ('r', 'p', 'v', 'm', 'f') and a.attnum > 0 and not a.attisdropped
        order by a.attrelid, a.attnum`,
      relationParams,
    ),
    (row) => text(row.relation),
  );
  const sequences = await query(
    `select s.seqrelid::text as oid, quote_ident(n.nspname) || '.' || quote_ident(c.relname) as name,
            format_type(s.seqtypid, null) as type, s.seqstart::text as start, s.seqincrement::text as increment,
            s.seqmin::text as min, s.seqmax::text as max, s.seqcache::text as cache, s.seqcycle as cycle,
            (select d.deptype::text from pg_depend d
              where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.refclassid = 'pg_class'::regclass
                and d.deptype in ('a', 'i')) as dependency,
            (select quote_ident(rn.nspname) || '.' || quote_ident(r.relname) || '.' || quote_ident(a.attname)
               from pg_depend d
               join pg_class r on r.oid = d.refobjid join pg_namespace rn on rn.oid = r.relnamespace
               join pg_attribute a on a.attrelid = d.refobjid and a.attnum = d.refobjsubid
              where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.refclassid = 'pg_class'::regclass
                and d.deptype in ('a', 'i')) as owned_by
       from pg_sequence s join pg_class c on c.oid = s.seqrelid join pg_namespace n on n.oid = c.relnamespace
      where c.relnamespace = $1::oid`,
    [ns],
  );
  // An identity sequence takes its type from the column.
  const sequenceOptions = (seq: Row, identity = false) =>
    `${identity ? '' : `as ${text(seq.type)} `}start with ${text(seq.start)} increment by ${text(seq.increment)} ` +
    `minvalue ${text(seq.min)} maxvalue ${text(seq.max)} cache ${text(seq.cache)}${seq.cycle ? ' cycle' : ' no cycle'}`;
  const identities = new Map(sequences.filter((seq) => seq.dependency === 'i').map((seq) => [text(seq.owned_by), seq]));
  const constraints = group(
    await query(
      `select con.conrelid::text as relation, quote_ident(con.conname) as name, pg_get_constraintdef(con.oid) as definition,
              obj_description(con.oid, 'pg_constraint') as comment
         from pg_constraint con join pg_class c on c.oid = con.conrelid
        where ${described} and con.contype <> 'n'`,
      relationParams,
    ),
    (row) => text(row.relation),
  );
  const indexes = group(
    await query(
      `select i.indrelid::text as relation, quote_ident(n.nspname) || '.' || quote_ident(ic.relname) as name,
              pg_get_indexdef(i.indexrelid) as definition, i.indisclustered as clustered,
              obj_description(ic.oid, 'pg_class') as comment
         from pg_index i
         join pg_class ic on ic.oid = i.indexrelid join pg_namespace n on n.oid = ic.relnamespace
         join pg_class c on c.oid = i.indrelid
        where ${described}
          and not exists (select 1 from pg_constraint con
                           where con.conindid = i.indexrelid and con.conrelid = i.indrelid and con.contype in ('p', 'u', 'x'))`,
      relationParams,
    ),
    (row) => text(row.relation),
  );
  const policies = group(
    await query(
      `select pol.polrelid::text as relation, quote_ident(pol.polname) as name, pol.polpermissive as permissive,
              pol.polcmd::text as command,
              array(select case when r = 0 then 'public' else quote_ident(pg_get_userbyid(r)) end from unnest(pol.polroles) r order by 1) as roles,
              pg_get_expr(pol.polqual, pol.polrelid) as using, pg_get_expr(pol.polwithcheck, pol.polrelid) as check
         from pg_policy pol join pg_class c on c.oid = pol.polrelid
        where ${described}`,
      relationParams,
    ),
    (row) => text(row.relation),
  );
  const rules = group(
    await query(
      `select r.ev_class::text as relation, quote_ident(r.rulename) as name, pg_get_ruledef(r.oid) as definition
         from pg_rewrite r join pg_class c on c.oid = r.ev_class
        where ${described} and r.rulename <> '_RETURN'`,
      relationParams,
    ),
    (row) => text(row.relation),
  );
  // Triggers on the schema's relations, and triggers elsewhere that call the schema's functions.
  const triggers = await query(
    `select t.tgrelid::text as relation, quote_ident(n.nspname) || '.' || quote_ident(c.relname) as relation_name,
            quote_ident(t.tgname) as name, pg_get_triggerdef(t.oid) as definition, t.tgenabled::text as enabled,
            obj_description(t.oid, 'pg_trigger') as comment
       from pg_trigger t
       join pg_class c on c.oid = t.tgrelid join pg_namespace n on n.oid = c.relnamespace
       join pg_proc p on p.oid = t.tgfoid
      where not t.tgisinternal
        and (${described} or p.pronamespace = $1::oid or c.oid = any(select to_regclass(v) from unnest($3::text[]) v))`,
    [...relationParams, readModelTables],
  );
  const triggersOf = group(triggers, (row) => text(row.relation));
  const relationOids = new Set(relations.map((row) => text(row.oid)));

  const triggerLines = (trigger: Row): string[] => {
    const enabled: Record<string, string> = { D: 'disable trigger', R: 'enable replica trigger', A: 'enable always trigger' };
    const state = enabled[text(trigger.enabled)];
    return [
      `${text(trigger.definition)};`,
      ...(state ? [`alter table ${text(trigger.relation_name)} ${state} ${text(trigger.name)};`] : []),
      ...commentOn(`trigger ${text(trigger.name)} on ${text(trigger.relation_name)}`, trigger.comment),
    ];
  };

  const partsOf = (relation: Row, name: string): string[] => {
    const oid = text(relation.oid);
    const lines: string[] = [];
    for (const constraint of sortBy(constraints.get(oid) ?? [], (row) => text(row.name))) {
      lines.push(`alter table ${name} add constraint ${text(constraint.name)} ${text(constraint.definition)};`);
      lines.push(...commentOn(`constraint ${text(constraint.name)} on ${name}`, constraint.comment));
    }
    for (const index of sortBy(indexes.get(oid) ?? [], (row) => text(row.name))) {
      lines.push(`${text(index.definition)};`);
      if (index.clustered) lines.push(`alter table ${name} cluster on ${text(index.name).split('.').pop() ?? ''};`);
      lines.push(...commentOn(`index ${text(index.name)}`, index.comment));
    }
    if (relation.row_security) lines.push(`alter table ${name} enable row level security;`);
    if (relation.force_row_security) lines.push(`alter table ${name} force row level security;`);
    for (const policy of sortBy(policies.get(oid) ?? [], (row) => text(row.name))) {
      const commands: Record<string, string> = { r: 'select', a: 'insert', w: 'update', d: 'delete', '*': 'all' };
      lines.push(
        `create policy ${text(policy.name)} on ${name} as ${policy.permissive ? 'permissive' : 'restrictive'}` +
          ` for ${commands[text(policy.command)] ?? text(policy.command)} to ${texts(policy.roles).join(', ')}` +
          `${policy.using === null || policy.using === undefined ? '' : ` using (${text(policy.using)})`}` +
          `${policy.check === null || policy.check === undefined ? '' : ` with check (${text(policy.check)})`};`,
      );
    }
    for (const rule of sortBy(rules.get(oid) ?? [], (row) => text(row.name))) lines.push(text(rule.definition));
    for (const trigger of sortBy(triggersOf.get(oid) ?? [], (row) => text(row.name))) lines.push(...triggerLines(trigger));
    const replicaIdentity: Record<string, string> = { f: 'full', n: 'nothing' };
    const identity = replicaIdentity[text(relation.replica_identity)];
    if (identity && ['r', 'p'].includes(text(relation.kind))) lines.push(`alter table ${name} replica identity ${identity};`);
    return lines;
  };

  const commentsAndPrivileges = (relation: Row, name: string, keyword: string): string[] => {
    const relationColumns = columns.get(text(relation.oid)) ?? [];
    return [
      ...ownerOf(`${keyword} ${name}`, text(relation.owner), schemaOwner),
      ...commentOn(`${keyword} ${name}`, relation.comment),
      ...relationColumns.flatMap((column) => commentOn(`column ${name}.${text(column.name)}`, column.comment)),
      ...aclOf(relation, `${keyword === 'sequence' ? 'sequence' : 'table'} ${name}`, text(relation.owner)),
      ...columnPrivilegeStatements(name, text(relation.owner), relationColumns),
    ];
  };

  const withOptions = (relation: Row) => {
    const options = texts(relation.options);
    return options.length > 0 ? ` with (${options.join(', ')})` : '';
  };

  const inSchema = (kinds: string[]) =>
    sortBy(
      relations.filter((row) => kinds.includes(text(row.kind)) && !viewProjections.includes(text(row.name))),
      (row) => text(row.name),
    );

  const tables = inSchema(['r', 'p', 'f']);
  if (tables.length > 0) section('tables');
  for (const table of tables) {
    const name = text(table.name);
    const columnLines = (columns.get(text(table.oid)) ?? []).map((column) => {
      let line = `  ${text(column.name)} ${text(column.type)}`;
      if (column.collation) line += ` collate ${text(column.collation)}`;
      if (column.generated === 's') line += ` generated always as (${text(column.default)}) stored`;
      else if (column.default !== null && column.default !== undefined) line += ` default ${text(column.default)}`;
      if (column.not_null) line += ' not null';
      if (column.identity === 'a' || column.identity === 'd') {
        const sequence = identities.get(`${name}.${text(column.name)}`);
        line += ` generated ${column.identity === 'a' ? 'always' : 'by default'} as identity`;
        if (sequence) line += ` (sequence name ${text(sequence.name)} ${sequenceOptions(sequence, true)})`;
      }
      return line;
    });
    const persistence = table.persistence === 'u' ? 'unlogged ' : '';
    const head = table.partition_of
      ? `create ${persistence}table ${name} partition of ${text(table.partition_of)} ${text(table.partition_bound)}`
      : `create ${persistence}${table.kind === 'f' ? 'foreign ' : ''}table ${name} (\n${columnLines.join(',\n')}\n)`;
    const identitySequences = sequences
      .filter((seq) => seq.dependency === 'i' && text(seq.owned_by).startsWith(`${name}.`))
      .map((seq) => relations.find((row) => text(row.oid) === text(seq.oid)) ?? {});
    blocks.push([
      `${head}${table.partition_key ? ` partition by ${text(table.partition_key)}` : ''}${withOptions(table)};`,
      ...partsOf(table, name),
      ...commentsAndPrivileges(table, name, 'table'),
      ...sortBy(identitySequences, (row) => text(row.name)).flatMap((seq) =>
        aclOf(seq, `sequence ${text(seq.name)}`, text(seq.owner)),
      ),
    ]);
  }

  const standaloneSequences = sortBy(
    sequences.filter((seq) => seq.dependency !== 'i'),
    (row) => text(row.name),
  );
  if (standaloneSequences.length > 0) section('sequences');
  for (const seq of standaloneSequences) {
    const name = text(seq.name);
    const relation = relations.find((row) => text(row.oid) === text(seq.oid)) ?? {};
    blocks.push([
      `create sequence ${name} ${sequenceOptions(seq)};`,
      ...(seq.owned_by ? [`alter sequence ${name} owned by ${text(seq.owned_by)};`] : []),
      ...commentsAndPrivileges(relation, name, 'sequence'),
    ]);
  }

  const views = inSchema(['v']);
  if (views.length > 0) section('views');
  for (const view of views) {
    const name = text(view.name);
    blocks.push([
      `create view ${name}${withOptions(view)} as\n${text(view.definition).trimEnd()}`,
      ...partsOf(view, name),
      ...commentsAndPrivileges(view, name, 'view'),
    ]);
  }

  const materializedView = (view: Row): string[] => {
    const name = text(view.name);
    const definition = text(view.definition).trimEnd().replace(/;$/, '');
    return [
      `create materialized view ${name}${withOptions(view)} as\n${definition}${view.populated ? '' : '\nwith no data'};`,
      ...partsOf(view, name),
      ...commentsAndPrivileges(view, name, 'materialized view'),
    ];
  };
  const materializedViews = inSchema(['m']);
  if (materializedViews.length > 0) section('materialized views');
  for (const view of materializedViews) blocks.push(materializedView(view));

  const functions = await query(
    `select p.oid::text as oid, p.oid::regprocedure::text as signature, p.prokind::text as kind, p.pronamespace = $1::oid as own,
            case when p.prokind <> 'a' then pg_get_functiondef(p.oid) end as definition,
            quote_ident(pg_get_userbyid(p.proowner)) as owner, obj_description(p.oid, 'pg_proc') as comment,
            ${aclColumns('p.proacl', `'f'`, 'p.proowner')}
       from pg_proc p
      where p.pronamespace = $1::oid or p.oid = any($2::oid[])`,
    [ns, handlers],
  );
  const routineKeyword = (fn: Row) => (fn.kind === 'p' ? 'procedure' : fn.kind === 'a' ? 'aggregate' : 'function');
  const ownFunctions = sortBy(
    functions.filter((fn) => fn.own === true),
    (row) => text(row.signature),
  );
  if (ownFunctions.length > 0) section('functions and procedures');
  for (const fn of ownFunctions) {
    const object = `${routineKeyword(fn)} ${text(fn.signature)}`;
    blocks.push([
      fn.kind === 'a' ? `-- aggregate ${text(fn.signature)}` : `${text(fn.definition).trimEnd()};`,
      ...ownerOf(object, text(fn.owner), schemaOwner),
      ...commentOn(object, fn.comment),
      ...aclOf(fn, object, text(fn.owner)),
    ]);
  }

  // Outside the schema: what pgevents defines or grants on read models and their handlers.
  const outside: string[][] = [];
  for (const view of sortBy(
    relations.filter((row) => viewProjections.includes(text(row.name))),
    (row) => text(row.name),
  )) {
    outside.push(materializedView(view));
  }
  const readModels = await query(
    `select ${RELATION_COLUMNS} from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where c.oid = any(select to_regclass(v) from unnest($1::text[]) v) and c.relnamespace <> $2::oid`,
    [readModelTables, ns],
  );
  const readModelColumns = group(
    await query(
      `select a.attrelid::text as relation, quote_ident(a.attname) as name, ${aclItems(`a.attacl`)} as acl
         from pg_attribute a
        where a.attrelid = any(select to_regclass(v) from unnest($1::text[]) v) and a.attnum > 0 and not a.attisdropped
        order by a.attrelid, a.attnum`,
      [readModelTables],
    ),
    (row) => text(row.relation),
  );
  for (const table of sortBy(readModels, (row) => text(row.name))) {
    const name = text(table.name);
    const lines = [
      `-- read model ${name}`,
      ...aclOf(table, `table ${name}`, text(table.owner)),
      ...columnPrivilegeStatements(name, text(table.owner), readModelColumns.get(text(table.oid)) ?? []),
      ...sortBy(triggersOf.get(text(table.oid)) ?? [], (row) => text(row.name)).flatMap(triggerLines),
    ];
    if (lines.length > 1) outside.push(lines);
  }
  const readModelOids = new Set(readModels.map((row) => text(row.oid)));
  const strayTriggers = triggers.filter((row) => !relationOids.has(text(row.relation)) && !readModelOids.has(text(row.relation)));
  for (const trigger of sortBy(strayTriggers, (row) => `${text(row.relation_name)} ${text(row.name)}`)) {
    outside.push(triggerLines(trigger));
  }
  for (const fn of sortBy(
    functions.filter((fn) => fn.own !== true),
    (row) => text(row.signature),
  )) {
    const lines = aclOf(fn, `${routineKeyword(fn)} ${text(fn.signature)}`, text(fn.owner));
    if (lines.length > 0) outside.push([`-- projection handler ${text(fn.signature)}`, ...lines]);
  }
  if (outside.length > 0) {
    section('outside the schema: materialized views, read models and handlers of the projections');
    blocks.push(...outside);
  }

  return `${blocks.map((lines) => lines.join('\n')).join('\n\n')}\n`;
}
