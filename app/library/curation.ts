import { ApiError } from '../contract/errors.js';
import type { CandidateRecord } from '../contract/library.js';
import { type LibraryDb, candidateRecord, candidateRow, descendantIds, generationRow } from './rows.js';

// What the artist does to the history: rate, favourite and accept candidates, tag
// generations, delete entries (rows first, then the files nothing references any more).

export function rate(lib: LibraryDb, candidateId: string, change: { rating?: number; favourite?: boolean; accepted?: boolean }): CandidateRecord {
  if (change.rating !== undefined && (!Number.isInteger(change.rating) || change.rating < 0 || change.rating > 5)) {
    throw new ApiError('bad_request', `A rating is 0 (none) to 5 stars, not ${change.rating}`);
  }
  lib.db.transaction(() => {
    const row = candidateRow(lib, candidateId);
    lib.db
      .prepare('UPDATE candidates SET rating = coalesce(?, rating), favourite = coalesce(?, favourite), accepted = coalesce(?, accepted) WHERE id = ?')
      .run(change.rating ?? null, change.favourite === undefined ? null : Number(change.favourite), change.accepted === undefined ? null : Number(change.accepted), candidateId);
    refreshGenerationRating(lib, row.generation_id);
  })();
  return candidateRecord(candidateRow(lib, candidateId));
}

function refreshGenerationRating(lib: LibraryDb, generationId: string): void {
  lib.db
    .prepare(
      `UPDATE generations SET
         best_rating = coalesce((SELECT max(rating) FROM candidates WHERE generation_id = @id), 0),
         has_favourite = EXISTS (SELECT 1 FROM candidates WHERE generation_id = @id AND favourite = 1)
       WHERE id = @id`,
    )
    .run({ id: generationId });
}

export function tag(lib: LibraryDb, generationIds: string[], add: string[] = [], remove: string[] = []): number {
  const names = (list: string[]): string[] => [...new Set(list.map((t) => t.trim()).filter(Boolean))];
  return lib.db.transaction(() => {
    const ids = generationIds.map((id) => generationRow(lib, id).id);
    const tagId = lib.db.prepare('INSERT INTO tags (name) VALUES (?) ON CONFLICT(name) DO UPDATE SET name = name RETURNING id');
    const link = lib.db.prepare('INSERT OR IGNORE INTO generation_tags (tag_id, generation_id) VALUES (?, ?)');
    const unlink = lib.db.prepare('DELETE FROM generation_tags WHERE generation_id = ? AND tag_id = (SELECT id FROM tags WHERE name = ?)');
    for (const name of names(add)) {
      const { id } = tagId.get(name) as { id: number };
      for (const g of ids) link.run(id, g);
    }
    for (const name of names(remove)) for (const g of ids) unlink.run(g, name);
    lib.db.prepare('DELETE FROM tags WHERE id NOT IN (SELECT tag_id FROM generation_tags)').run();
    return ids.length;
  })();
}

/**
 * Deletes generations and candidates (by id), then the image files nothing references.
 * Later generations refined from them are refused unless withDescendants.
 */
export function deleteEntries(lib: LibraryDb, ids: string[], options: { withDescendants?: boolean } = {}): { generations: number; candidates: number; files: number } {
  const unreferenced: string[] = [];
  const counts = lib.db.transaction(() => {
    const generationIds = new Set<string>();
    const candidateIds = new Set<string>();
    for (const id of ids) {
      if (id.startsWith('c_')) candidateIds.add(candidateRow(lib, id).id);
      else generationIds.add(generationRow(lib, id).id);
    }
    const descendants = descendantIds(lib, [...generationIds], [...candidateIds]).filter((d) => !generationIds.has(d));
    if (descendants.length > 0 && !options.withDescendants) {
      throw new ApiError(
        'conflict',
        `${descendants.length} later generation(s) were refined from these entries (${descendants.slice(0, 3).join(', ')}); delete them too with withDescendants`,
        { descendants },
      );
    }
    for (const d of descendants) generationIds.add(d);
    const json = JSON.stringify([...generationIds]);
    const touched = lib.db
      .prepare(
        `SELECT image_sha256 AS sha FROM candidates WHERE generation_id IN (SELECT value FROM json_each(@g)) OR id IN (SELECT value FROM json_each(@c))
         UNION SELECT image_sha256 FROM generation_inputs WHERE generation_id IN (SELECT value FROM json_each(@g))`,
      )
      .all({ g: json, c: JSON.stringify([...candidateIds]) }) as Array<{ sha: string }>;
    const ratedParents = new Set(
      (lib.db.prepare('SELECT DISTINCT generation_id AS g FROM candidates WHERE id IN (SELECT value FROM json_each(?))').all(JSON.stringify([...candidateIds])) as Array<{ g: string }>).map((r) => r.g),
    );
    const deletedCandidates =
      (lib.db.prepare('SELECT count(*) AS n FROM candidates WHERE generation_id IN (SELECT value FROM json_each(?))').get(json) as { n: number }).n +
      lib.db.prepare('DELETE FROM candidates WHERE id IN (SELECT value FROM json_each(?)) AND generation_id NOT IN (SELECT value FROM json_each(?))').run(JSON.stringify([...candidateIds]), json).changes;
    // The snapshots these generations ran from, and the layer images they keep (docs/canvas.md, "Branches").
    const snapshots = (
      lib.db.prepare('SELECT DISTINCT snapshot_sha256 AS s FROM generations WHERE snapshot_sha256 IS NOT NULL AND id IN (SELECT value FROM json_each(?))').all(json) as Array<{ s: string }>
    ).map((r) => r.s);
    for (const s of snapshots) touched.push(...(lib.db.prepare('SELECT image_sha256 AS sha FROM snapshot_images WHERE snapshot_sha256 = ?').all(s) as Array<{ sha: string }>));
    const deletedGenerations = lib.db.prepare('DELETE FROM generations WHERE id IN (SELECT value FROM json_each(?))').run(json).changes;
    const unusedSnapshot = lib.db.prepare('DELETE FROM snapshots WHERE sha256 = ? AND NOT EXISTS (SELECT 1 FROM generations WHERE snapshot_sha256 = ?)');
    for (const s of snapshots) unusedSnapshot.run(s, s);
    for (const g of ratedParents) if (!generationIds.has(g)) refreshGenerationRating(lib, g);
    const stillUsed = lib.db.prepare(
      'SELECT EXISTS (SELECT 1 FROM candidates WHERE image_sha256 = @s) OR EXISTS (SELECT 1 FROM generation_inputs WHERE image_sha256 = @s) OR EXISTS (SELECT 1 FROM snapshot_images WHERE image_sha256 = @s) AS used',
    );
    for (const sha of new Set(touched.map((t) => t.sha))) {
      if ((stillUsed.get({ s: sha }) as { used: number }).used) continue;
      lib.db.prepare('DELETE FROM images WHERE sha256 = ?').run(sha);
      unreferenced.push(sha);
    }
    lib.db.prepare('DELETE FROM tags WHERE id NOT IN (SELECT tag_id FROM generation_tags)').run();
    return { generations: deletedGenerations, candidates: deletedCandidates };
  })();
  // Files go only after the rows are gone: a crash here leaves orphans, never dangling
  // rows. Under the write lock, and only if no other process has since recorded the same
  // image (identical bytes share one file).
  let files = 0;
  lib.db.transaction(() => {
    const known = lib.db.prepare('SELECT 1 FROM images WHERE sha256 = ?');
    for (const sha of unreferenced) if (!known.get(sha)) files += lib.images.remove(sha);
  }).immediate();
  return { ...counts, files };
}
