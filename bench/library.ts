// npm run bench:library — builds a library of 100 000 generations (realistic prompts from
// word lists, 1–4 candidates each, ratings, tags, projects, ControlNet, img2img) in a
// temporary folder, then times a mix of searches: prefix, multi-word, phrase, exclusion,
// filters, combinations, deep paging and sorts. Prints p50/p95/max per kind and overall.
// Usage: npm run bench:library [-- --generations 100000 --repeat 15 --keep DIR (build once, reuse) --verbose (time each query)]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { LibrarySearchQueryInput } from '../app/contract/index.js';
import { openLibrary } from '../app/library/index.js';
import { newId } from '../app/library/ids.js';

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const GENERATIONS = arg('generations', 100_000);
const REPEAT = arg('repeat', 15);

// A small deterministic PRNG (mulberry32) so every run builds the same library.
let state = 0x5eed;
const rand = (): number => {
  state = (state + 0x6d2b79f5) | 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)]!;

const adjectives = ['ancient', 'misty', 'golden', 'red', 'tiny', 'colossal', 'serene', 'haunted', 'neon', 'frozen', 'overgrown', 'crystal', 'rusty', 'whimsical', 'lonely', 'vibrant', 'dark', 'ornate', 'floating', 'sunlit'];
const subjects = ['castle', 'fox', 'portrait of an old sailor', 'lighthouse', 'dragon', 'forest spirit', 'city street', 'cathedral', 'robot', 'teapot', 'mountain village', 'koi pond', 'astronaut', 'owl', 'library', 'samurai', 'mermaid', 'train station', 'cottage', 'portrait of a young woman', 'cyberpunk alley', 'desert caravan', 'whale', 'greenhouse'];
const places = ['in a forest', 'on a cliff', 'under the sea', 'in the clouds', 'at the edge of the world', 'in a snowy valley', 'by the river', 'on mars', 'in a ruined temple', 'at a night market', 'in a field of sunflowers', 'inside a glass bottle'];
const styles = ['oil painting', 'watercolor', 'digital art', 'concept art', 'ink drawing', 'studio photo', 'pixel art', 'ukiyo-e', 'charcoal sketch', 'isometric render', 'matte painting', 'gouache'];
const lights = ['golden hour', 'volumetric light', 'rim lighting', 'overcast', 'moonlight', 'candlelight', 'neon glow', 'soft morning light', 'dramatic shadows', 'backlit'];
const extras = ['highly detailed', 'sharp focus', 'trending on artstation', '8k', 'intricate', 'masterpiece', 'cinematic', 'bokeh', 'wide angle', 'symmetrical'];
const artists = ['by hokusai', 'by monet', 'by moebius', 'by turner', 'by mucha', 'by sargent', 'by hopper', 'by klimt'];
const negatives = ['blurry, lowres', 'watermark, text', 'extra fingers, bad anatomy', 'jpeg artifacts', 'oversaturated', ''];
const models = ['starter', '/models/sd15-dreamy', '/models/sd21-base', '/models/realistic-v5', '/models/anime-lcm'];
const samplers = ['euler_a', 'euler', 'ddim', 'dpmpp_2m', 'dpmpp_2m_karras', 'lcm'];
const tags = ['keeper', 'portfolio', 'client-a', 'wip', 'print', 'reference'];

function prompt(): string {
  const parts = [`a ${pick(adjectives)} ${pick(subjects)} ${pick(places)}`, pick(styles), pick(lights)];
  if (rand() < 0.7) parts.push(pick(extras));
  if (rand() < 0.5) parts.push(pick(extras));
  if (rand() < 0.4) parts.push(pick(artists));
  return parts.join(', ');
}

const keepIndex = process.argv.indexOf('--keep');
const keep = keepIndex > 0 ? path.resolve(process.argv[keepIndex + 1]!) : undefined;
const home = keep ?? fs.mkdtempSync(path.join(os.tmpdir(), 'atelier-bench-library-'));
const reuse = keep !== undefined && fs.existsSync(path.join(home, 'library', 'library.sqlite'));
try {
  const library = openLibrary(home);
  const t0 = performance.now();
  const now = Date.now();
  const span = 2 * 365 * 24 * 3600 * 1000;
  const imagePool = Array.from({ length: 64 }, (_, i) => ({ sha256: i.toString(16).padStart(64, '0'), width: 512, height: 512, bytes: 400_000, thumbWidth: 256, thumbHeight: 256 }));
  const candidateIds: string[] = [];
  if (!reuse) library.db.transaction(() => {
    for (const image of imagePool) library.insertImage(image);
    library.db.prepare("INSERT INTO projects (id, name, created_at) VALUES ('p1', 'Harbour series', 0), ('p2', 'Book cover', 0)").run();
    const addModel = library.db.prepare('INSERT INTO models (path, name) VALUES (?, ?) RETURNING id');
    const modelIds = new Map(models.map((m) => [m, (addModel.get(m, path.basename(m)) as { id: number }).id]));
    const tagId = library.db.prepare('INSERT INTO tags (name) VALUES (?) RETURNING id');
    const tagIds = tags.map((t) => (tagId.get(t) as { id: number }).id);
    const link = library.db.prepare('INSERT OR IGNORE INTO generation_tags (tag_id, generation_id) VALUES (?, ?)');
    const rate = library.db.prepare('UPDATE candidates SET rating = ?, favourite = ? WHERE id = ?');
    const best = library.db.prepare('UPDATE generations SET best_rating = ?, has_favourite = ? WHERE id = ?');
    for (let i = 0; i < GENERATIONS; i++) {
      const createdAt = now - span + Math.floor((span * i) / GENERATIONS);
      const id = newId('generation', createdAt);
      const seed = Math.floor(rand() * 2 ** 32);
      const mode = rand() < 0.8 ? 'txt2img' : rand() < 0.6 ? 'img2img' : 'inpaint';
      const batch = 1 + Math.floor(rand() * 4);
      const model = pick(models);
      const parent = mode !== 'txt2img' && candidateIds.length ? pick(candidateIds) : null;
      library.insertGeneration({
        id,
        created_at: createdAt,
        status: 'completed',
        source: 'atelier',
        mode,
        prompt: prompt(),
        negative_prompt: pick(negatives),
        model,
        model_id: modelIds.get(model),
        model_name: path.basename(model),
        model_hash: (seed % 5).toString(16).repeat(64),
        sampler: pick(samplers),
        steps: 10 + Math.floor(rand() * 40),
        cfg: 3 + Math.round(rand() * 80) / 10,
        seed,
        seed_mode: 'torch_cpu',
        batch,
        width: 512,
        height: 512,
        strength: mode === 'txt2img' ? null : 0.6,
        has_control: rand() < 0.2 ? 1 : 0,
        request_json: null,
        device: 'cuda',
        app_version: '0.1.0',
        parent_candidate_id: parent,
        project_id: rand() < 0.1 ? pick(['p1', 'p2']) : null,
      });
      let top = 0;
      let fav = 0;
      for (let k = 0; k < batch; k++) {
        const cid = newId('candidate', createdAt);
        library.insertCandidate(cid, id, k, seed + k, pick(imagePool).sha256, createdAt);
        if (rand() < 0.08) {
          const stars = 1 + Math.floor(rand() * 5);
          const f = rand() < 0.3 ? 1 : 0;
          rate.run(stars, f, cid);
          top = Math.max(top, stars);
          fav ||= f;
        }
        if (rand() < 0.05) candidateIds.push(cid);
      }
      if (top || fav) best.run(top, fav, id);
      if (rand() < 0.03) link.run(pick(tagIds), id);
    }
  })();
  const insertMs = performance.now() - t0;
  library.close();
  const t1 = performance.now();
  const reopened = openLibrary(home); // includes PRAGMA quick_check
  const openMs = performance.now() - t1;
  const dbBytes = fs.statSync(path.join(home, 'library', 'library.sqlite')).size + (fs.existsSync(path.join(home, 'library', 'library.sqlite-wal')) ? fs.statSync(path.join(home, 'library', 'library.sqlite-wal')).size : 0);

  const month = new Date(now - 200 * 24 * 3600 * 1000);
  const iso = (d: Date): string => d.toISOString().slice(0, 10);
  const queries: Array<[string, LibrarySearchQueryInput]> = [
    ['newest page', {}],
    ['word', { text: 'castle' }],
    ['word', { text: 'portrait' }],
    ['prefix', { text: 'cath*' }],
    ['prefix', { text: 'dr*' }],
    ['prefix', { text: 'wa*' }],
    ['multi-word', { text: 'golden fox forest' }],
    ['multi-word', { text: 'oil painting portrait sailor' }],
    ['phrase', { text: '"golden hour" lighthouse' }],
    ['exclusion', { text: 'castle -night -moonlight' }],
    ['negative prompts', { text: 'watermark', includeNegative: true }],
    ['filter', { model: '/models/realistic-v5' }],
    ['filter', { from: iso(month), to: iso(new Date(month.getTime() + 14 * 24 * 3600 * 1000)) }],
    ['filter', { minRating: 4 }],
    ['filter', { favourite: true }],
    ['filter', { tag: 'portfolio' }],
    ['filter', { projectId: 'p1' }],
    ['filter', { mode: 'inpaint', hasControl: true }],
    ['combined', { text: 'dragon', model: 'starter', from: iso(new Date(now - 365 * 24 * 3600 * 1000)) }],
    ['combined', { text: 'portrait*', minRating: 3, mode: 'txt2img' }],
    ['combined', { text: 'robot neon', hasControl: false, tag: 'wip' }],
    ['paging', { text: 'forest', offset: 2000 }],
    ['paging', { offset: 20_000, limit: 100 }],
    ['sort', { text: 'whale', sort: 'oldest' }],
    ['sort', { sort: 'rating' }],
    ['sort', { text: 'ukiyo hokusai', sort: 'relevance' }],
  ];
  const times = new Map<string, number[]>();
  const totals = new Map<string, number>();
  for (const [, q] of queries) reopened.search(q); // warm the page cache once
  for (let r = 0; r < REPEAT; r++) {
    for (const [kind, q] of queries) {
      const s = performance.now();
      const result = reopened.search(q);
      const ms = performance.now() - s;
      times.set(kind, [...(times.get(kind) ?? []), ms]);
      totals.set(JSON.stringify(q), result.total);
    }
  }
  reopened.close();
  const reopenedForDetail = openLibrary(home, { checkIntegrity: false });

  const pct = (xs: number[], p: number): number => {
    const sorted = [...xs].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
  };
  const fmt = (n: number): string => n.toFixed(2).padStart(8);
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  console.log(`library bench: ${GENERATIONS.toLocaleString('en')} generations on ${cpu} (${os.cpus().length} cores), Node ${process.version}`);
  console.log(`  bulk insert (one transaction): ${(insertMs / 1000).toFixed(1)} s; database ${(dbBytes / 1048576).toFixed(1)} MiB; open with quick_check: ${openMs.toFixed(0)} ms`);
  console.log(`  ${'query kind'.padEnd(18)} ${'p50 ms'.padStart(8)} ${'p95 ms'.padStart(8)} ${'max ms'.padStart(8)}  runs`);
  const all: number[] = [];
  for (const [kind, xs] of times) {
    all.push(...xs);
    console.log(`  ${kind.padEnd(18)} ${fmt(pct(xs, 50))} ${fmt(pct(xs, 95))} ${fmt(Math.max(...xs))}  ${xs.length}`);
  }
  console.log(`  ${'ALL'.padEnd(18)} ${fmt(pct(all, 50))} ${fmt(pct(all, 95))} ${fmt(Math.max(...all))}  ${all.length}`);
  console.log(`  matches per query: ${[...totals.values()].join(', ')}`);
  if (process.argv.includes('--verbose')) {
    for (const [kind, q] of queries) {
      const xs: number[] = [];
      for (let r = 0; r < 5; r++) {
        const s = performance.now();
        reopenedForDetail.search(q);
        xs.push(performance.now() - s);
      }
      console.log(`  ${fmt(pct(xs, 50))} ms  ${kind}: ${JSON.stringify(q)}`);
    }
  }
  reopenedForDetail.close();
  console.log(`  target p95 < 50 ms: ${pct(all, 95) < 50 ? 'met' : 'NOT met'}`);
} finally {
  if (!keep) fs.rmSync(home, { recursive: true, force: true });
}
