import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { ApiError } from '../contract/errors.js';
import { DocumentSnapshot, type StoredSnapshot } from '../contract/library.js';
import type { StoredImageWithBytes } from './image-store.js';
import { storeImage } from './recording.js';
import { type LibraryDb, generationRow, hasImage, insertImage } from './rows.js';

// Document snapshots (docs/canvas.md, "Branches"): what a generation ran from — the layer
// stack with its masks, controls and region boxes, the canvas and the frame — so any node of
// the iteration tree can be restored. Pixels are never copied per generation: each layer's
// part is a content-addressed library image (an unchanged layer is one image however many
// generations show it), and the snapshot JSON itself is stored once per distinct content
// (generations from an unchanged document share one row). snapshot_images keeps the images
// from orphan collection while a generation points at the snapshot.

/** A part's PNG bytes, or the hash of a library image that holds them. */
export type SnapshotPart = Buffer | { sha256: string };

interface SnapshotJson extends DocumentSnapshot {
  /** part → SHA-256 of the library image with its bytes. */
  parts: Record<string, string>;
}

/** Every part the snapshot's layers show, and the library images generated layers name. */
function layerImages(snapshot: DocumentSnapshot): { parts: Set<string>; library: Set<string> } {
  const parts = new Set<string>();
  const library = new Set<string>();
  for (const layer of snapshot.layers) {
    const image = 'image' in layer ? layer.image : null;
    if (!image) continue;
    if ('part' in image) parts.add(image.part);
    else library.add(image.sha256);
  }
  return { parts, library };
}

/**
 * Stores the snapshot of the document `generationId` ran from and links the generation to
 * it. Parts not named by a layer are ignored; a layer whose part was not given is refused.
 */
export async function putSnapshot(
  lib: LibraryDb,
  generationId: string,
  input: DocumentSnapshot,
  given: Readonly<Record<string, SnapshotPart>>,
): Promise<StoredSnapshot & { newImages: number; bytes: number }> {
  const snapshot = DocumentSnapshot.parse(input);
  const generation = generationRow(lib, generationId);
  const { parts, library } = layerImages(snapshot);
  const stored: StoredImageWithBytes[] = [];
  const partShas: Record<string, string> = {};
  for (const part of [...parts].sort()) {
    const source = given[part];
    if (source === undefined) throw new ApiError('bad_request', `The snapshot's layers show ${part}, but its bytes were not sent`, { part });
    if (Buffer.isBuffer(source)) {
      const image = await storeImage(lib, source);
      stored.push(image);
      partShas[part] = image.sha256;
    } else {
      if (!hasImage(lib, source.sha256)) throw new ApiError('not_found', `The library has no image ${source.sha256} (for ${part}); send its bytes`, { part, sha256: source.sha256 });
      partShas[part] = source.sha256;
    }
  }
  const body: SnapshotJson = { ...snapshot, parts: partShas };
  const json = JSON.stringify(body);
  const sha256 = createHash('sha256').update(json).digest('hex');
  const data = gzipSync(json);
  let newImages = 0;
  lib.db.transaction(() => {
    for (const image of stored) {
      if (!hasImage(lib, image.sha256)) newImages++;
      lib.images.ensureFiles(image);
      insertImage(lib, image);
    }
    lib.db.prepare('INSERT OR IGNORE INTO snapshots (sha256, data, bytes, created_at) VALUES (?, ?, ?, ?)').run(sha256, data, data.length, Date.now());
    const link = lib.db.prepare('INSERT OR IGNORE INTO snapshot_images (snapshot_sha256, image_sha256) VALUES (?, ?)');
    for (const sha of new Set(Object.values(partShas))) link.run(sha256, sha);
    // A candidate on the canvas stays restorable after its own entry is deleted; an image
    // the library never had (a project from elsewhere) cannot be protected, only named.
    for (const sha of library) if (hasImage(lib, sha)) link.run(sha256, sha);
    lib.db.prepare('UPDATE generations SET snapshot_sha256 = ? WHERE id = ?').run(sha256, generation.id);
  })();
  return { sha256, parts: partShas, newImages, bytes: data.length };
}

/** The snapshot a generation (or one of its candidates) was made from, or null. */
export function getSnapshot(lib: LibraryDb, id: string): (StoredSnapshot & { snapshot: DocumentSnapshot }) | null {
  const generation = generationRow(lib, id);
  const row = lib.db
    .prepare('SELECT s.sha256, s.data FROM generations g JOIN snapshots s ON s.sha256 = g.snapshot_sha256 WHERE g.id = ?')
    .get(generation.id) as { sha256: string; data: Buffer } | undefined;
  if (!row) return null;
  const { parts, ...rest } = JSON.parse(gunzipSync(row.data).toString('utf8')) as SnapshotJson;
  return { sha256: row.sha256, parts, snapshot: DocumentSnapshot.parse(rest) };
}

/** Snapshots no generation points to any more (their images follow through snapshot_images). */
export function deleteUnusedSnapshots(lib: LibraryDb, olderThan = Number.POSITIVE_INFINITY): number {
  return lib.db
    .prepare('DELETE FROM snapshots WHERE created_at < ? AND sha256 NOT IN (SELECT snapshot_sha256 FROM generations WHERE snapshot_sha256 IS NOT NULL)')
    .run(Number.isFinite(olderThan) ? olderThan : Number.MAX_SAFE_INTEGER).changes;
}
