import { z } from 'zod';
import { PROJECT_SCHEMA_VERSION, ProjectDocument } from '../../contract/projects.js';
import { DocumentError } from './errors.js';
import { generationSizeFor } from './operations.js';

// Migrations bring an older document forward one version at a time, then the current schema
// validates the result (Excalidraw's `restore`: old files open, nothing unvalidated gets in).
//
// Version 0 is the preview format (Atelier 0.0.x): `title`, `size: {w, h}`, layers of type
// sketch / image / mask with `hidden` and percent `opacity`, stroke points as {x, y, p}
// objects, and only prompt + negative as settings; it had no generations.

const V0Point = z.object({ x: z.number(), y: z.number(), p: z.number().min(0).max(1).optional() });
const V0Stroke = z.object({ id: z.string(), color: z.string(), size: z.number(), points: z.array(V0Point) });
const V0Layer = z.discriminatedUnion('type', [
  z.object({ type: z.literal('sketch'), id: z.string(), name: z.string(), hidden: z.boolean().default(false), opacity: z.number().min(0).max(100).default(100), strokes: z.array(V0Stroke) }),
  z.object({ type: z.literal('image'), id: z.string(), name: z.string(), hidden: z.boolean().default(false), opacity: z.number().min(0).max(100).default(100), src: z.string() }),
  z.object({ type: z.literal('mask'), id: z.string(), name: z.string(), hidden: z.boolean().default(false), opacity: z.number().min(0).max(100).default(50), src: z.string() }),
]);
export const DocumentV0 = z.object({
  version: z.literal(0).optional(),
  id: z.string(),
  title: z.string(),
  size: z.object({ w: z.number().int(), h: z.number().int() }),
  created: z.string().optional(),
  layers: z.array(V0Layer),
  prompt: z.string().default(''),
  negative: z.string().default(''),
});

function v0ToV1(raw: unknown): unknown {
  const parsed = DocumentV0.safeParse(raw);
  if (!parsed.success) throw new DocumentError(`Not a readable version-0 project: ${z.prettifyError(parsed.error)}`, parsed.error.issues);
  const v0 = parsed.data;
  const base = (l: { id: string; name: string; hidden: boolean; opacity: number }) => ({
    id: l.id,
    name: l.name,
    visible: !l.hidden,
    locked: false,
    opacity: l.opacity / 100,
  });
  // v0 images always covered the canvas at its size.
  const placement = { x: 0, y: 0, width: v0.size.w, height: v0.size.h };
  return {
    schemaVersion: 1,
    id: v0.id,
    name: v0.title,
    canvas: { width: v0.size.w, height: v0.size.h, background: '#ffffff' },
    layers: v0.layers.map((l) => {
      switch (l.type) {
        case 'sketch':
          return {
            kind: 'sketch',
            ...base(l),
            strokes: l.strokes.map((s) => ({ id: s.id, tool: 'pen', colour: s.color, width: s.size, points: s.points.flatMap((p) => [p.x, p.y, p.p ?? 0.5]) })),
          };
        case 'image':
          return { kind: 'paint', ...base(l), image: { part: l.src }, ...placement };
        case 'mask':
          return { kind: 'mask', ...base(l), image: { part: l.src }, ...placement, colour: '#ff0040' };
      }
    }),
    settings: { prompt: v0.prompt, negativePrompt: v0.negative, ...generationSizeFor(v0.size.w, v0.size.h) },
    generations: [],
    createdAt: v0.created ?? '',
  };
}

// Version 1 → 2: settings gain the panel's seed policy in place of `randomSeed` (a v1 file
// could not say 'increment'), and always carry a generation size: v1 left it out when the
// canvas size was not one a model makes, and the panel then used the model's default; 512 is
// the default a v1 panel started from. Candidate pixels and generated layers may now name a
// library image (`{ sha256 }`); v1 kept re-encoded copies as parts, whose bytes do not hash to
// the candidate's sha256, so those stay parts rather than claim a hash they do not have.
const V1Settings = z.looseObject({ randomSeed: z.boolean().optional(), width: z.number().optional(), height: z.number().optional() });
const V1Document = z.looseObject({ canvas: z.looseObject({ width: z.number(), height: z.number() }), settings: V1Settings });

function v1ToV2(raw: unknown): unknown {
  const parsed = V1Document.safeParse(raw);
  if (!parsed.success) throw new DocumentError(`Not a readable version-1 project: ${z.prettifyError(parsed.error)}`, parsed.error.issues);
  const v1 = parsed.data;
  const { randomSeed, width, height, ...settings } = v1.settings;
  const size = width !== undefined && height !== undefined ? { width, height } : { width: 512, height: 512, ...generationSizeFor(v1.canvas.width, v1.canvas.height) };
  return { ...v1, schemaVersion: 2, settings: { ...settings, ...size, seedPolicy: randomSeed === false ? 'fixed' : 'random' } };
}

/** migrations[n] turns version n into version n + 1. */
const migrations: ReadonlyArray<(doc: unknown) => unknown> = [v0ToV1, v1ToV2];

/** The schema version a raw document claims: `schemaVersion`, or 0 for the preview format. */
export function documentVersion(raw: unknown): number {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new DocumentError('A project document is a JSON object');
  const record = raw as Record<string, unknown>;
  const version = record.schemaVersion ?? record.version ?? 0;
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 0) throw new DocumentError(`Unknown project schema version ${JSON.stringify(version)}`);
  return version;
}

/**
 * Any document this or an earlier Atelier wrote → a valid current ProjectDocument, or a
 * DocumentError saying what is wrong. Never a half-repaired document.
 */
export function restoreDocument(raw: unknown): ProjectDocument {
  let version = documentVersion(raw);
  if (version > PROJECT_SCHEMA_VERSION) {
    throw new DocumentError(`This project was made by a newer Atelier (schema ${version}; this one reads up to ${PROJECT_SCHEMA_VERSION})`);
  }
  let doc = raw;
  while (version < PROJECT_SCHEMA_VERSION) {
    doc = migrations[version]!(doc);
    version++;
  }
  const parsed = ProjectDocument.safeParse(doc);
  if (!parsed.success) throw new DocumentError(`The project document is invalid: ${z.prettifyError(parsed.error)}`, parsed.error.issues);
  return parsed.data;
}
