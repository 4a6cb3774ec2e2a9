// Document diffs: what undo/redo stores (tldraw and Excalidraw keep diffs, not command
// objects). A diff is computed between two immutable document values; structural sharing makes
// that cheap (unchanged subtrees are the same object and are skipped by identity).
//
// Arrays whose items all carry a string `id` (layers, strokes, shapes, generations,
// candidates) are diffed by id — insert / remove / reorder plus changes inside an item
// addressed by its id, not its index — so an undo still lands on the right layer after a
// non-undoable change (e.g. candidates arriving) shifted positions. Other arrays (stroke
// points) are replaced whole.

/** A step into a value: an object key, an array index, or the item of a keyed array with that id. */
export type PathSegment = string | number | { readonly id: string };
export type Path = readonly PathSegment[];

interface Keyed {
  readonly id: string;
}

export type Change =
  /** `undefined` before/after means the key is absent. */
  | { readonly op: 'set'; readonly path: Path; readonly before: unknown; readonly after: unknown }
  | { readonly op: 'insert'; readonly path: Path; readonly index: number; readonly item: Keyed }
  | { readonly op: 'remove'; readonly path: Path; readonly index: number; readonly item: Keyed }
  | { readonly op: 'reorder'; readonly path: Path; readonly before: readonly string[]; readonly after: readonly string[] };

export type Patch = readonly Change[];

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isKeyedArray(value: unknown[]): value is Keyed[] {
  const ids = new Set<string>();
  for (const item of value) {
    if (!isPlainObject(item) || typeof item.id !== 'string' || ids.has(item.id)) return false;
    ids.add(item.id);
  }
  return true;
}

/** Structural equality of JSON-like values. */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    return a.every((item, i) => deepEqual(item, b[i]));
  }
  if (isPlainObject(a) && isPlainObject(b)) {
    const ak = Object.keys(a).filter((k) => a[k] !== undefined);
    const bk = Object.keys(b).filter((k) => b[k] !== undefined);
    return ak.length === bk.length && ak.every((k) => deepEqual(a[k], b[k]));
  }
  return false;
}

/** The changes that turn `before` into `after`. Empty when they are structurally equal. */
export function diff(before: unknown, after: unknown, path: Path = []): Change[] {
  if (before === after) return [];
  if (Array.isArray(before) && Array.isArray(after)) {
    if (before.length + after.length > 0 && isKeyedArray(before) && isKeyedArray(after)) return diffKeyed(before, after, path);
    return deepEqual(before, after) ? [] : [{ op: 'set', path, before, after }];
  }
  if (isPlainObject(before) && isPlainObject(after)) {
    const changes: Change[] = [];
    for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
      const b = before[key];
      const a = after[key];
      if (b === undefined || a === undefined) {
        if (b !== a) changes.push({ op: 'set', path: [...path, key], before: b, after: a });
      } else {
        changes.push(...diff(b, a, [...path, key]));
      }
    }
    return changes;
  }
  return deepEqual(before, after) ? [] : [{ op: 'set', path, before, after }];
}

function diffKeyed(before: Keyed[], after: Keyed[], path: Path): Change[] {
  const afterById = new Map(after.map((item) => [item.id, item]));
  const beforeById = new Map(before.map((item) => [item.id, item]));
  const changes: Change[] = [];
  // Removes from the end first, so their inverses (inserts) run in ascending index order.
  for (let i = before.length - 1; i >= 0; i--) {
    const item = before[i]!;
    if (!afterById.has(item.id)) changes.push({ op: 'remove', path, index: i, item });
  }
  const commonBefore = before.filter((item) => afterById.has(item.id)).map((item) => item.id);
  const commonAfter = after.filter((item) => beforeById.has(item.id)).map((item) => item.id);
  if (commonBefore.some((id, i) => id !== commonAfter[i])) {
    changes.push({ op: 'reorder', path, before: commonBefore, after: commonAfter });
  }
  after.forEach((item, i) => {
    if (!beforeById.has(item.id)) changes.push({ op: 'insert', path, index: i, item });
  });
  for (const id of commonAfter) {
    changes.push(...diff(beforeById.get(id), afterById.get(id), [...path, { id }]));
  }
  return changes;
}

/** The patch that undoes `patch`. */
export function invert(patch: Patch): Change[] {
  return [...patch].reverse().map((change): Change => {
    switch (change.op) {
      case 'set':
        return { op: 'set', path: change.path, before: change.after, after: change.before };
      case 'insert':
        return { op: 'remove', path: change.path, index: change.index, item: change.item };
      case 'remove':
        return { op: 'insert', path: change.path, index: change.index, item: change.item };
      case 'reorder':
        return { op: 'reorder', path: change.path, before: change.after, after: change.before };
    }
  });
}

/**
 * Applies a patch immutably: only the objects along changed paths are copied. A change whose
 * target no longer exists (an item removed since) is skipped rather than resurrecting a half
 * item — the rest of the patch still applies.
 */
export function applyPatch<T>(value: T, patch: Patch): T {
  let result: unknown = value;
  for (const change of patch) result = applyChange(result, change);
  return result as T;
}

const MISSING = Symbol('missing');

function applyChange(root: unknown, change: Change): unknown {
  if (change.op === 'set') {
    if (change.path.length === 0) return change.after;
    const updated = updateAt(root, change.path.slice(0, -1), (parent) => setChild(parent, change.path[change.path.length - 1]!, change.after));
    return updated === MISSING ? root : updated;
  }
  const updated = updateAt(root, change.path, (list) => {
    if (!Array.isArray(list)) return MISSING;
    const items = list as Keyed[];
    switch (change.op) {
      case 'insert': {
        if (items.some((item) => item.id === change.item.id)) return list;
        const next = items.slice();
        next.splice(Math.min(change.index, next.length), 0, change.item);
        return next;
      }
      case 'remove':
        return items.filter((item) => item.id !== change.item.id);
      case 'reorder': {
        const wanted = new Set(change.after);
        const byId = new Map(items.map((item) => [item.id, item]));
        const queue = change.after.filter((id) => byId.has(id));
        let k = 0;
        return items.map((item) => (wanted.has(item.id) ? byId.get(queue[k++]!)! : item));
      }
    }
  });
  return updated === MISSING ? root : updated;
}

function childOf(parent: unknown, segment: PathSegment): unknown {
  if (typeof segment === 'object') {
    return Array.isArray(parent) ? ((parent as Keyed[]).find((item) => isPlainObject(item) && item.id === segment.id) ?? MISSING) : MISSING;
  }
  if (typeof segment === 'number') return Array.isArray(parent) && segment < parent.length ? parent[segment] : MISSING;
  return isPlainObject(parent) ? parent[segment] : MISSING;
}

function setChild(parent: unknown, segment: PathSegment, value: unknown): unknown {
  if (typeof segment === 'object') {
    if (!Array.isArray(parent)) return MISSING;
    const index = (parent as Keyed[]).findIndex((item) => isPlainObject(item) && item.id === segment.id);
    if (index < 0) return MISSING;
    const next = parent.slice();
    next[index] = value;
    return next;
  }
  if (typeof segment === 'number') {
    if (!Array.isArray(parent) || segment >= parent.length) return MISSING;
    const next = parent.slice();
    next[segment] = value;
    return next;
  }
  if (!isPlainObject(parent)) return MISSING;
  const next: Record<string, unknown> = { ...parent };
  if (value === undefined) delete next[segment];
  else next[segment] = value;
  return next;
}

function updateAt(root: unknown, path: Path, update: (value: unknown) => unknown): unknown {
  if (path.length === 0) return update(root);
  const child = childOf(root, path[0]!);
  if (child === MISSING || child === undefined) return MISSING;
  const updated = updateAt(child, path.slice(1), update);
  if (updated === MISSING) return MISSING;
  return setChild(root, path[0]!, updated);
}
