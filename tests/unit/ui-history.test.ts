import { describe, expect, it } from 'vitest';
import type { LineageResult } from '../../app/contract/index.js';
import { buildLineageTree } from '../../renderer/src/history/lineage.js';
import { cellPosition, gridWindow } from '../../renderer/src/history/window.js';
import { parameterDiff } from '../../renderer/src/state/settings.js';

describe('history grid window', () => {
  it('mounts only the visible rows plus overscan, even for 10 000 entries', () => {
    const w = gridWindow({ count: 10_000, width: 800, height: 600, scrollTop: 50_000, cellSize: 148, gap: 8, overscanRows: 2 });
    expect(w.columns).toBe(5);
    expect(w.rows).toBe(2000);
    expect(w.totalHeight).toBe(2000 * 156 - 8);
    const firstRow = Math.floor(50_000 / 156) - 2;
    expect(w.first).toBe(firstRow * 5);
    expect(w.last - w.first).toBeLessThanOrEqual((Math.ceil(600 / 156) + 5) * 5);
    expect(w.last - w.first).toBeGreaterThan(0);
  });

  it('clamps at both ends', () => {
    const top = gridWindow({ count: 7, width: 320, height: 2000, scrollTop: 0, cellSize: 100, gap: 10 });
    expect(top).toMatchObject({ columns: 3, rows: 3, first: 0, last: 7 });
    expect(gridWindow({ count: 0, width: 320, height: 200, scrollTop: 0, cellSize: 100, gap: 10 })).toMatchObject({ first: 0, last: 0, totalHeight: 0 });
  });

  it('places cells row by row', () => {
    expect(cellPosition(7, 5, 156)).toEqual({ left: 2 * 156, top: 156 });
  });
});

describe('lineage tree', () => {
  const node = (generationId: string, parentCandidateId: string | null, candidateIds: string[]) => ({ generationId, parentCandidateId, prompt: generationId, mode: 'txt2img' as const, createdAt: '', candidateIds });
  it('hangs each refinement under the generation that owns its parent candidate', () => {
    const lineage: LineageResult = {
      generationId: 'g2',
      ancestors: [node('g1', null, ['c1', 'c2'])],
      descendants: [node('g3', 'c3', ['c5']), node('g4', 'c4', []), node('g5', 'c5', [])],
    };
    const roots = buildLineageTree(lineage, node('g2', 'c2', ['c3', 'c4']));
    expect(roots).toHaveLength(1);
    const g1 = roots[0]!;
    expect(g1.node.generationId).toBe('g1');
    expect(g1.children.map((c) => c.node.generationId)).toEqual(['g2']);
    const g2 = g1.children[0]!;
    expect(g2.children.map((c) => c.node.generationId)).toEqual(['g3', 'g4']);
    expect(g2.children[0]!.children.map((c) => c.node.generationId)).toEqual(['g5']);
  });
});

describe('compare parameter diff', () => {
  it('lists only parameters that differ, leaving image payloads out', () => {
    const a = { prompt: 'barn', seed: 1, steps: 20, init: { png: 'AAA' } };
    const b = { prompt: 'barn', seed: 2, steps: 20, cfg: 5, init: { png: 'BBB' } };
    expect(parameterDiff(a, b)).toEqual([
      { key: 'cfg', a: '—', b: '5' },
      { key: 'seed', a: '1', b: '2' },
    ]);
  });
});
