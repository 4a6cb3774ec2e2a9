import Database from 'better-sqlite3';
import { ApiError } from '../contract/errors.js';
import {
  LibrarySearchQuery,
  type LibrarySearchQueryInput,
  type LibrarySearchResult,
  PromptPhrasesQuery,
  type PromptPhrasesQueryInput,
  type PromptPhrasesResult,
} from '../contract/library.js';
import { type GenerationRow, type LibraryDb, SUMMARY_COLUMNS, summaries } from './rows.js';
import { buildFtsQuery, countPromptPhrases, parseDateBound, promptPrefixQuery } from './search-query.js';

// Reading the history: search with filters and full text (SQLite FTS5), and the prompt
// phrases that autocomplete draws on. Single records are read by rows.ts (getRecord).

export function search(lib: LibraryDb, queryInput: LibrarySearchQueryInput): LibrarySearchResult {
  const parsed = LibrarySearchQuery.safeParse(queryInput);
  if (!parsed.success) throw new ApiError('bad_request', `Invalid search: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
  const q = parsed.data;
  const where: string[] = [];
  const params: Record<string, unknown> = {};
  const fts = buildFtsQuery(q.text, q.includeNegative);
  if (fts.match) {
    params.match = fts.match;
    if (q.sort !== 'relevance') where.push('g.seq IN (SELECT rowid FROM prompts_fts WHERE prompts_fts MATCH @match)');
  }
  if (fts.exclude) {
    params.exclude = fts.exclude;
    where.push('g.seq NOT IN (SELECT rowid FROM prompts_fts WHERE prompts_fts MATCH @exclude)');
  }
  if (fts.empty) return { items: [], total: 0, offset: q.offset, limit: q.limit };
  if (q.model) {
    // By the models table (path as requested, or name) → model_id, and by hash prefix
    // when the text looks like a hash: made with exactly that version of the model.
    const ids = lib.db.prepare('SELECT id FROM models WHERE path = ? OR name = ?').pluck().all(q.model, q.model) as number[];
    const either: string[] = [];
    if (ids.length) either.push(ids.length === 1 ? `g.model_id = ${ids[0]}` : `g.model_id IN (${ids.join(', ')})`);
    if (/^(blake3:)?[0-9a-f]{6,}$/i.test(q.model)) {
      params.model = q.model.toLowerCase();
      params.modelHashEnd = `${q.model.toLowerCase()}\uffff`;
      either.push('(g.model_hash >= @model AND g.model_hash < @modelHashEnd)');
    }
    where.push(either.length ? `(${either.join(' OR ')})` : '0');
  }
  if (q.from) {
    params.from = parseDateBound(q.from, 'start');
    where.push('g.created_at >= @from');
  }
  if (q.to) {
    params.to = parseDateBound(q.to, 'end');
    where.push('g.created_at <= @to');
  }
  if (q.minRating !== undefined) {
    params.minRating = q.minRating;
    where.push('g.best_rating >= @minRating');
  }
  if (q.favourite !== undefined) where.push(`g.has_favourite = ${q.favourite ? 1 : 0}`);
  if (q.tag) {
    params.tag = q.tag;
    where.push('g.id IN (SELECT gt.generation_id FROM generation_tags gt JOIN tags t ON t.id = gt.tag_id WHERE t.name = @tag)');
  }
  for (const [key, column] of [['projectId', 'project_id'], ['mode', 'mode'], ['status', 'status'], ['source', 'source']] as const) {
    if (q[key] !== undefined) {
      params[key] = q[key];
      where.push(`g.${column} = @${key}`);
    }
  }
  if (q.statuses) {
    q.statuses.forEach((status, i) => (params[`status${i}`] = status));
    where.push(`g.status IN (${q.statuses.map((_, i) => `@status${i}`).join(', ')})`);
  }
  if (q.hasControl !== undefined) where.push(`g.has_control = ${q.hasControl ? 1 : 0}`);

  const whereSql = where.length ? `WHERE ${where.join(' AND ')}` : '';
  const relevance = q.sort === 'relevance' && fts.match;
  const from = relevance ? 'generations g JOIN (SELECT rowid, rank FROM prompts_fts WHERE prompts_fts MATCH @match) f ON f.rowid = g.seq' : 'generations g';
  // Order by seq (the order entries entered the library), not created_at: the FTS index
  // and the table are both keyed by seq, so a page of the newest matches needs no sort
  // of all matches. Recorded generations enter as they are made; imports as imported.
  const order = relevance ? 'f.rank, g.seq DESC' : q.sort === 'oldest' ? 'g.seq ASC' : q.sort === 'rating' ? 'g.best_rating DESC, g.seq DESC' : 'g.seq DESC';
  try {
    // Two steps: the page's keys (cheap to sort), then only those rows.
    const seqs = lib.db
      .prepare(`SELECT g.seq FROM ${from} ${whereSql} ORDER BY ${order} LIMIT @limit OFFSET @offset`)
      .pluck()
      .all({ ...params, limit: q.limit, offset: q.offset }) as number[];
    const bySeq = new Map(
      (lib.db.prepare(`SELECT ${SUMMARY_COLUMNS} FROM generations g WHERE g.seq IN (SELECT value FROM json_each(?))`).all(JSON.stringify(seqs)) as GenerationRow[]).map((r) => [r.seq, r]),
    );
    const rows = seqs.map((seq) => bySeq.get(seq)!).filter(Boolean);
    const onlyText = where.length === 1 && fts.match && !relevance && !fts.exclude;
    const total = onlyText
      ? (lib.db.prepare('SELECT count(*) FROM prompts_fts WHERE prompts_fts MATCH @match').pluck().get({ match: params.match }) as number)
      : (lib.db.prepare(`SELECT count(*) FROM ${from} ${whereSql}`).pluck().get(params) as number);
    return { items: summaries(lib, rows), total, offset: q.offset, limit: q.limit };
  } catch (error) {
    if (error instanceof Database.SqliteError && /fts5|MATCH/i.test(error.message)) throw new ApiError('bad_request', `Cannot search for "${q.text}": ${error.message}`);
    throw error;
  }
}

/**
 * Prompt autocomplete: phrases of recorded prompts that start with `prefix`. The FTS index
 * (prefix-indexed for this) finds the prompts holding such a word; only the most recent
 * 2 000 of them are read, which keeps it quick on a large history.
 */
export function promptPhrases(lib: LibraryDb, input: PromptPhrasesQueryInput): PromptPhrasesResult {
  const parsed = PromptPhrasesQuery.safeParse(input);
  if (!parsed.success) throw new ApiError('bad_request', `Invalid prompt phrase query: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
  const { prefix, limit } = parsed.data;
  const match = promptPrefixQuery(prefix);
  if (!match) return { phrases: [] };
  const prompts = lib.db
    .prepare('SELECT g.prompt FROM generations g WHERE g.seq IN (SELECT rowid FROM prompts_fts WHERE prompts_fts MATCH ?) ORDER BY g.seq DESC LIMIT 2000')
    .pluck()
    .all(match) as string[];
  return { phrases: countPromptPhrases(prompts, prefix, limit) };
}
