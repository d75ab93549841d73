// The lint's rules: a stable id, a severity, and what to tell the author. While an expand migration
// runs, the old version still serves users from the same database, so each message says why the
// statement breaks the old version (or stalls it) and how to get there the expand/contract way.

export type Severity = 'error' | 'warning';

export type RuleId =
  | 'drop-table'
  | 'drop-column'
  | 'rename-table'
  | 'rename-column'
  | 'alter-column-type'
  | 'set-not-null'
  | 'add-column-not-null-without-default'
  | 'drop-constraint'
  | 'drop-index'
  | 'create-index-without-concurrently'
  | 'long-lock'
  | 'parse-error'
  | 'bad-annotation'
  | 'unused-allow';

export interface Rule {
  severity: Severity;
  /** Why the statement breaks (or stalls) the old version while both versions run. */
  why: string;
  /** The expand/contract way to get the same result. */
  way: string;
}

export const RULES: Record<RuleId, Rule> = {
  'drop-table': {
    severity: 'error',
    why: 'the old version still reads and writes it while both versions run, and fails on every such query',
    way: 'stop using it in the new version, and drop it in the contract migration once the old slot is retired',
  },
  'drop-column': {
    severity: 'error',
    why: 'the old version still selects and writes it while both versions run, and fails on every such query',
    way: 'stop using it in the new version, and drop it in the contract migration once the old slot is retired',
  },
  'rename-table': {
    severity: 'error',
    why: 'the old version still queries it by its old name, and fails on every such query',
    way: 'create the new table (or a view with the new name), write to both from the new version, backfill, and drop the old one in the contract migration',
  },
  'rename-column': {
    severity: 'error',
    why: 'the old version still queries it by its old name, and fails on every such query',
    way: 'add a column with the new name, write to both from the new version (or a trigger), backfill, and drop the old column in the contract migration',
  },
  'alter-column-type': {
    severity: 'error',
    why: 'the old version reads and writes the old type, and the change rewrites the table under an exclusive lock that stalls every query on it',
    way: 'add a column of the new type, write to both, backfill in batches, switch reads in the new version, and drop the old column in the contract migration',
  },
  'set-not-null': {
    severity: 'error',
    why: 'the old version may insert rows without this column, and those inserts fail once it is NOT NULL; checking existing rows also holds an exclusive lock',
    way: 'give the column a default, backfill it, add CHECK (col IS NOT NULL) NOT VALID now, and VALIDATE it and SET NOT NULL in the contract migration',
  },
  'add-column-not-null-without-default': {
    severity: 'error',
    why: 'the old version inserts rows without this column, and those inserts fail with a not-null violation',
    way: 'add the column nullable or with a DEFAULT; make it NOT NULL in the contract migration once the old slot is retired',
  },
  'drop-constraint': {
    severity: 'error',
    why: 'the old version may rely on it (ON CONFLICT needs its unique index; a foreign key or check keeps out data the old code cannot handle)',
    way: 'keep it while both versions run, and drop it in the contract migration once the old slot is retired',
  },
  'drop-index': {
    severity: 'error',
    why: 'the old version may rely on it (ON CONFLICT needs a unique index; its queries turn into table scans), and DROP INDEX without CONCURRENTLY locks the table',
    way: 'keep it while both versions run, and drop it with DROP INDEX CONCURRENTLY in the contract migration',
  },
  'create-index-without-concurrently': {
    severity: 'warning',
    why: 'building it blocks every write to the existing table until the build ends, so the live version stalls',
    way: 'use CREATE INDEX CONCURRENTLY (outside a transaction block)',
  },
  'long-lock': {
    severity: 'warning',
    why: 'it holds a lock that blocks the live version on this table while it scans or rewrites it',
    way: '', // set per statement: the remedy depends on the statement
  },
  'parse-error': {
    severity: 'error',
    why: 'PostgreSQL cannot parse this statement, so the lint cannot check it and the migration would fail',
    way: 'fix the SQL',
  },
  'bad-annotation': {
    severity: 'error',
    why: 'the annotation cannot be honoured',
    way: 'write -- cutover:allow <rule> <reason> on the line before the statement, with a rule this lint reports',
  },
  'unused-allow': {
    severity: 'warning',
    why: 'the annotation lets nothing through: its statement has no such finding',
    way: 'remove it, or move it to the line just before the statement it is meant for',
  },
};

/** The rules an annotation may name (the others are about the file or the annotation itself). */
export const ALLOWABLE: ReadonlySet<RuleId> = new Set<RuleId>([
  'drop-table',
  'drop-column',
  'rename-table',
  'rename-column',
  'alter-column-type',
  'set-not-null',
  'add-column-not-null-without-default',
  'drop-constraint',
  'drop-index',
  'create-index-without-concurrently',
  'long-lock',
]);
