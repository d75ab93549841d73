// The SQL safety lint of expand migrations: parses each file with PostgreSQL's own parser
// (libpg-query) and reports what would break, or stall, the old version while both versions run on
// one database. Line numbers come from the parser's statement offsets, which count UTF-8 bytes.
import { glob, readFile } from 'node:fs/promises';
import path from 'node:path';
import { loadModule, parseSync, scanSync, type Node, type RangeVar, type RawStmt, type ScanToken } from 'libpg-query';
import { ALLOWABLE, RULES, type RuleId, type Severity } from './rules.ts';

// The parser is WebAssembly; load it once so lintSql can stay synchronous.
await loadModule();

export interface Finding {
  file: string;
  /** 1-based line of the statement's first token (or of the parse error). */
  line: number;
  rule: RuleId;
  severity: Severity;
  /** What the statement does, why it breaks blue-green, and the expand/contract way to do it. */
  message: string;
  statement: string;
}

/** A finding let through by a `-- cutover:allow <rule> <reason>` comment; the release records it. */
export interface Allowed {
  file: string;
  line: number;
  rule: RuleId;
  reason: string;
  statement: string;
}

export interface LintResult {
  findings: Finding[];
  allowed: Allowed[];
}

export interface FilesLintResult extends LintResult {
  /** The files the pattern matched, in the order a migration tool applies them (by name). */
  files: string[];
}

/** Marks a statement as let through: `-- cutover:allow drop-column,drop-index the app stopped using it in 2.3`. */
export const ALLOW_PREFIX = 'cutover:allow';
const ALLOW_RE = /^--\s*cutover:allow\b\s*(\S*)\s*(.*)$/;

interface Hit {
  rule: RuleId;
  subject: string;
  /** Overrides the rule's generic remedy (long-lock has one per statement). */
  way?: string;
}

interface Annotation {
  rules: string[];
  reason: string;
  line: number;
  used: Set<string>;
}

/** Lints one file's SQL text; `file` names it in findings. Use lintFiles for a migrations folder. */
export function lintSql(text: string, file: string): Finding[] {
  return lintSqlWithAllowed(text, file).findings;
}

/** lintSql, plus the statements let through by an annotation. */
export function lintSqlWithAllowed(text: string, file: string): LintResult {
  const buf = Buffer.from(text, 'utf8');
  const lineAt = lineIndex(buf);
  let stmts: RawStmt[];
  if (text.trim() === '') return { findings: [], allowed: [] };
  try {
    stmts = parseSync(text).stmts ?? [];
  } catch (err) {
    const e = err as Error & { sqlDetails?: { cursorPosition?: number } };
    const at = e.sqlDetails?.cursorPosition ?? 0;
    const rule = RULES['parse-error'];
    return {
      findings: [
        {
          file,
          line: lineAt(at),
          rule: 'parse-error',
          severity: rule.severity,
          message: `${e.message}: ${rule.why}; ${rule.way}`,
          statement: '',
        },
      ],
      allowed: [],
    };
  }
  const tokens = scanSync(text).tokens;
  const spans = stmts.map((s) => statementSpan(s, buf.length, tokens));
  const annotations = assignAnnotations(tokens, spans, buf, lineAt);

  const findings: Finding[] = [];
  const allowed: Allowed[] = [];
  const created = new Set<string>();
  stmts.forEach((raw, i) => {
    const span = spans[i]!;
    const line = lineAt(span.first);
    const statement = buf.subarray(span.first, span.end).toString('utf8').trim();
    const notes = annotations[i] ?? [];
    for (const hit of raw.stmt ? check(raw.stmt, created) : []) {
      const note = notes.find((a) => a.rules.includes(hit.rule));
      if (note && note.reason !== '') {
        note.used.add(hit.rule);
        allowed.push({ file, line, rule: hit.rule, reason: note.reason, statement });
        continue;
      }
      const rule = RULES[hit.rule];
      findings.push({
        file,
        line,
        rule: hit.rule,
        severity: rule.severity,
        message: `${hit.subject}: ${rule.why}; ${hit.way ?? rule.way}`,
        statement,
      });
    }
    for (const note of notes) findings.push(...annotationProblems(note, file, statement));
  });
  for (const note of annotations[-1] ?? []) findings.push(...annotationProblems(note, file, ''));
  findings.sort((a, b) => a.line - b.line);
  return { findings, allowed };
}

/** Lints every file `pattern` matches (relative to `cwd`, or absolute); files are named relative to `cwd`. */
export async function lintFiles(pattern: string, cwd: string): Promise<FilesLintResult> {
  const files: string[] = [];
  for await (const f of glob(pattern, { cwd })) files.push(f);
  files.sort();
  const result: FilesLintResult = { files: [], findings: [], allowed: [] };
  for (const f of files) {
    const abs = path.resolve(cwd, f);
    const name = path.relative(cwd, abs).startsWith('..') ? abs : path.relative(cwd, abs);
    const { findings, allowed } = lintSqlWithAllowed(await readFile(abs, 'utf8'), name);
    result.files.push(name);
    result.findings.push(...findings);
    result.allowed.push(...allowed);
  }
  return result;
}

// --- what each statement does ------------------------------------------------------------------

const RELATIONS = new Set(['OBJECT_TABLE', 'OBJECT_VIEW', 'OBJECT_MATVIEW', 'OBJECT_FOREIGN_TABLE']);
const KINDS: Record<string, string> = {
  OBJECT_TABLE: 'table',
  OBJECT_VIEW: 'view',
  OBJECT_MATVIEW: 'materialized view',
  OBJECT_FOREIGN_TABLE: 'foreign table',
};
// Defaults that PostgreSQL cannot store once for all rows, so adding a column with one rewrites the table.
const VOLATILE = new Set([
  'random',
  'gen_random_uuid',
  'uuid_generate_v1',
  'uuid_generate_v4',
  'uuidv4',
  'uuidv7',
  'clock_timestamp',
  'timeofday',
  'nextval',
  'txid_current',
]);
const SERIAL = new Set(['serial', 'serial4', 'bigserial', 'serial8', 'smallserial', 'serial2']);
// LOCK TABLE modes from SHARE (5) up block the live version's writes; ACCESS EXCLUSIVE (8, the default) its reads too.
const SHARE_LOCK = 5;

const WAY = {
  validate: 'add it with NOT VALID, then VALIDATE CONSTRAINT in a later statement (validation lets reads and writes through)',
  usingIndex: 'build the index first with CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT ... USING INDEX',
  rewrite: 'add the column without a default, then SET DEFAULT for new rows and backfill existing rows in batches',
  maintenance: 'do it outside an expand migration, in a maintenance window (or with a tool that rewrites online)',
  lock: 'drop the explicit lock; if you need one, take the weakest mode that works and SET lock_timeout first',
  reindex: 'use REINDEX ... CONCURRENTLY',
  refresh: 'use REFRESH MATERIALIZED VIEW CONCURRENTLY (the view needs a unique index)',
};

function check(node: Node, created: Set<string>): Hit[] {
  if ('CreateStmt' in node) return remember(created, node.CreateStmt.relation);
  if ('CreateTableAsStmt' in node) return remember(created, node.CreateTableAsStmt.into?.rel);
  if ('ViewStmt' in node) return remember(created, node.ViewStmt.view);
  if ('DropStmt' in node) {
    const d = node.DropStmt;
    const names = (d.objects ?? []).map(objectName);
    if (d.removeType && RELATIONS.has(d.removeType)) {
      return names.filter((n) => !created.has(n)).map((n) => ({ rule: 'drop-table', subject: `drops ${KINDS[d.removeType!]} ${n}` }));
    }
    if (d.removeType === 'OBJECT_SCHEMA')
      return names.map((n) => ({ rule: 'drop-table', subject: `drops schema ${n} and every table in it` }));
    if (d.removeType === 'OBJECT_INDEX') return names.map((n) => ({ rule: 'drop-index', subject: `drops index ${n}` }));
    return [];
  }
  if ('RenameStmt' in node) {
    const r = node.RenameStmt;
    const rel = relName(r.relation);
    if (created.has(rel)) return [];
    if (r.renameType && RELATIONS.has(r.renameType))
      return [{ rule: 'rename-table', subject: `renames ${KINDS[r.renameType]} ${rel} to ${r.newname}` }];
    if (r.renameType === 'OBJECT_COLUMN') return [{ rule: 'rename-column', subject: `renames column ${rel}.${r.subname} to ${r.newname}` }];
    return [];
  }
  if ('AlterObjectSchemaStmt' in node) {
    const a = node.AlterObjectSchemaStmt;
    const rel = relName(a.relation);
    if (a.objectType && RELATIONS.has(a.objectType) && !created.has(rel)) {
      return [{ rule: 'rename-table', subject: `moves ${KINDS[a.objectType]} ${rel} to schema ${a.newschema}` }];
    }
    return [];
  }
  if ('AlterTableStmt' in node) {
    const a = node.AlterTableStmt;
    const rel = relName(a.relation);
    if (created.has(rel)) return [];
    return (a.cmds ?? []).flatMap((c) => ('AlterTableCmd' in c ? alterTable(rel, c.AlterTableCmd) : []));
  }
  if ('IndexStmt' in node) {
    const x = node.IndexStmt;
    const rel = relName(x.relation);
    if (x.concurrent || created.has(rel)) return [];
    return [{ rule: 'create-index-without-concurrently', subject: `builds index ${x.idxname ?? '(unnamed)'} on ${rel}` }];
  }
  if ('LockStmt' in node) {
    const l = node.LockStmt;
    if ((l.mode ?? 8) < SHARE_LOCK) return [];
    const rels = (l.relations ?? []).map((n) => ('RangeVar' in n ? relName(n.RangeVar) : '?')).join(', ');
    return [{ rule: 'long-lock', subject: `LOCK TABLE ${rels}`, way: WAY.lock }];
  }
  if ('VacuumStmt' in node) {
    const v = node.VacuumStmt;
    const full = (v.options ?? []).some((o) => 'DefElem' in o && o.DefElem.defname === 'full');
    return v.is_vacuumcmd && full
      ? [{ rule: 'long-lock', subject: 'VACUUM FULL rewrites each table under an exclusive lock', way: WAY.maintenance }]
      : [];
  }
  if ('ClusterStmt' in node)
    return [{ rule: 'long-lock', subject: 'CLUSTER rewrites the table under an exclusive lock', way: WAY.maintenance }];
  if ('ReindexStmt' in node) {
    const concurrently = (node.ReindexStmt.params ?? []).some((o) => 'DefElem' in o && o.DefElem.defname === 'concurrently');
    return concurrently ? [] : [{ rule: 'long-lock', subject: 'REINDEX without CONCURRENTLY', way: WAY.reindex }];
  }
  if ('RefreshMatViewStmt' in node) {
    const m = node.RefreshMatViewStmt;
    return m.concurrent
      ? []
      : [{ rule: 'long-lock', subject: `refreshes ${relName(m.relation)} without CONCURRENTLY, blocking its readers`, way: WAY.refresh }];
  }
  return [];
}

function alterTable(rel: string, c: { subtype?: string; name?: string; def?: Node }): Hit[] {
  const col = `${rel}.${c.name ?? '?'}`;
  switch (c.subtype) {
    case 'AT_DropColumn':
      return [{ rule: 'drop-column', subject: `drops column ${col}` }];
    case 'AT_AlterColumnType':
      return [{ rule: 'alter-column-type', subject: `changes the type of ${col}` }];
    case 'AT_SetNotNull':
      return [{ rule: 'set-not-null', subject: `makes ${col} NOT NULL` }];
    case 'AT_DropConstraint':
      return [{ rule: 'drop-constraint', subject: `drops constraint ${c.name ?? '?'} on ${rel}` }];
    case 'AT_AddColumn':
      return c.def && 'ColumnDef' in c.def ? addColumn(rel, c.def.ColumnDef) : [];
    case 'AT_AddConstraint':
      return c.def && 'Constraint' in c.def ? addConstraint(rel, c.def.Constraint) : [];
    case 'AT_SetTableSpace':
    case 'AT_SetLogged':
    case 'AT_SetUnLogged':
    case 'AT_SetAccessMethod':
      return [{ rule: 'long-lock', subject: `rewrites table ${rel} under an exclusive lock`, way: WAY.maintenance }];
    default:
      return [];
  }
}

type ColumnDef = Extract<Node, { ColumnDef: unknown }>['ColumnDef'];
type Constraint = Extract<Node, { Constraint: unknown }>['Constraint'];

function addColumn(rel: string, def: ColumnDef): Hit[] {
  const col = `${rel}.${def.colname ?? '?'}`;
  const cons = (def.constraints ?? []).flatMap((n) => ('Constraint' in n ? [n.Constraint] : []));
  const type = (def.typeName?.names ?? []).map((n) => ('String' in n ? n.String.sval : '')).at(-1) ?? '';
  const serial = SERIAL.has(type);
  const dflt = cons.find((k) => k.contype === 'CONSTR_DEFAULT');
  const filled = serial || dflt !== undefined || cons.some((k) => k.contype === 'CONSTR_IDENTITY' || k.contype === 'CONSTR_GENERATED');
  const notNull = def.is_not_null || cons.some((k) => k.contype === 'CONSTR_NOTNULL' || k.contype === 'CONSTR_PRIMARY');
  const hits: Hit[] = [];
  if (notNull && !filled) hits.push({ rule: 'add-column-not-null-without-default', subject: `adds ${col} NOT NULL without a default` });
  if (
    serial ||
    (dflt?.raw_expr && callsVolatile(dflt.raw_expr)) ||
    cons.some((k) => k.contype === 'CONSTR_IDENTITY' || k.contype === 'CONSTR_GENERATED')
  ) {
    hits.push({
      rule: 'long-lock',
      subject: `adds ${col} with a value computed per row, which rewrites the table under an exclusive lock`,
      way: WAY.rewrite,
    });
  }
  if (cons.some((k) => k.contype === 'CONSTR_PRIMARY' || k.contype === 'CONSTR_UNIQUE')) {
    hits.push({ rule: 'long-lock', subject: `adds ${col} with a unique index built under a lock`, way: WAY.usingIndex });
  }
  return hits;
}

function addConstraint(rel: string, k: Constraint): Hit[] {
  const name = k.conname ?? '(unnamed)';
  switch (k.contype) {
    case 'CONSTR_NOTNULL': {
      const cols = (k.keys ?? []).map((n) => ('String' in n ? n.String.sval : '?')).join(', ');
      return [{ rule: 'set-not-null', subject: `makes ${rel}.${cols} NOT NULL` }];
    }
    case 'CONSTR_CHECK':
    case 'CONSTR_FOREIGN':
      return k.skip_validation
        ? []
        : [{ rule: 'long-lock', subject: `adds constraint ${name} on ${rel} and checks every row under a lock`, way: WAY.validate }];
    case 'CONSTR_PRIMARY':
    case 'CONSTR_UNIQUE':
      return k.indexname
        ? []
        : [{ rule: 'long-lock', subject: `adds constraint ${name} on ${rel} and builds its index under a lock`, way: WAY.usingIndex }];
    case 'CONSTR_EXCLUSION':
      return [
        {
          rule: 'long-lock',
          subject: `adds exclusion constraint ${name} on ${rel} and builds its index under a lock`,
          way: WAY.maintenance,
        },
      ];
    default:
      return [];
  }
}

/** Whether an expression calls a function whose value differs per row (so PostgreSQL rewrites the table). */
function callsVolatile(expr: unknown): boolean {
  if (Array.isArray(expr)) return expr.some(callsVolatile);
  if (!expr || typeof expr !== 'object') return false;
  const call = (expr as { FuncCall?: { funcname?: Node[] } }).FuncCall;
  if (call) {
    const last = (call.funcname ?? []).map((n) => ('String' in n ? n.String.sval : '')).at(-1) ?? '';
    if (VOLATILE.has(last)) return true;
  }
  return Object.values(expr).some(callsVolatile);
}

function remember(created: Set<string>, rel: RangeVar | undefined): Hit[] {
  if (rel) created.add(relName(rel));
  return [];
}

function relName(rel: RangeVar | undefined): string {
  if (!rel) return '?';
  return rel.schemaname ? `${rel.schemaname}.${rel.relname}` : (rel.relname ?? '?');
}

function objectName(n: Node): string {
  if ('List' in n) return (n.List.items ?? []).map((i) => ('String' in i ? i.String.sval : '?')).join('.');
  if ('String' in n) return n.String.sval ?? '?';
  return '?';
}

// --- where statements and annotations are ------------------------------------------------------

interface Span {
  /** Byte offset of the statement's first token (after leading comments), and of its end. */
  first: number;
  end: number;
}

function statementSpan(s: RawStmt, size: number, tokens: ScanToken[]): Span {
  const start = s.stmt_location ?? 0;
  const end = s.stmt_len ? start + s.stmt_len : size;
  const first = tokens.find((t) => t.start >= start && t.tokenName !== 'SQL_COMMENT' && t.tokenName !== 'C_COMMENT');
  return { first: first && first.start < end ? first.start : start, end };
}

/**
 * Ties each `-- cutover:allow` comment to a statement: the next one, unless the comment follows the
 * end of a statement on its own line (`DROP ...; -- cutover:allow ...`), or sits inside it.
 * Comments after the last statement land under index -1.
 */
function assignAnnotations(tokens: ScanToken[], spans: Span[], buf: Buffer, lineAt: (at: number) => number): Record<number, Annotation[]> {
  const out: Record<number, Annotation[]> = {};
  for (const t of tokens) {
    if (t.tokenName !== 'SQL_COMMENT') continue;
    const m = ALLOW_RE.exec(t.text);
    if (!m) continue;
    let i = spans.findIndex((s) => t.start < s.end);
    const prev = spans[i === -1 ? spans.length - 1 : i - 1];
    const sameLine = prev && t.start >= prev.end && !buf.subarray(prev.end, t.start).includes(0x0a);
    if (sameLine) i = i === -1 ? spans.length - 1 : i - 1;
    const rules = (m[1] ?? '').split(',').filter((r) => r !== '');
    (out[i] ??= []).push({ rules, reason: (m[2] ?? '').trim(), line: lineAt(t.start), used: new Set() });
  }
  return out;
}

function annotationProblems(note: Annotation, file: string, statement: string): Finding[] {
  const finding = (rule: 'bad-annotation' | 'unused-allow', subject: string): Finding => ({
    file,
    line: note.line,
    rule,
    severity: RULES[rule].severity,
    message: `${subject}: ${RULES[rule].why}; ${RULES[rule].way}`,
    statement,
  });
  if (note.rules.length === 0) return [finding('bad-annotation', 'cutover:allow names no rule')];
  const unknown = note.rules.filter((r) => !ALLOWABLE.has(r as RuleId));
  if (unknown.length > 0) {
    return [finding('bad-annotation', `unknown rule ${unknown.join(', ')} (rules: ${[...ALLOWABLE].join(', ')})`)];
  }
  if (note.reason === '')
    return [finding('bad-annotation', `cutover:allow ${note.rules.join(',')} gives no reason, and the release records one`)];
  if (statement === '') return [finding('unused-allow', `cutover:allow ${note.rules.join(',')} follows the last statement`)];
  const unused = note.rules.filter((r) => !note.used.has(r));
  return unused.length > 0 ? [finding('unused-allow', `cutover:allow ${unused.join(',')}`)] : [];
}

/** 1-based line of a byte offset. */
function lineIndex(buf: Buffer): (at: number) => number {
  const starts: number[] = [];
  for (let i = buf.indexOf(0x0a); i !== -1; i = buf.indexOf(0x0a, i + 1)) starts.push(i);
  return (at) => {
    let lo = 0;
    let hi = starts.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (starts[mid]! < at) lo = mid + 1;
      else hi = mid;
    }
    return lo + 1;
  };
}
