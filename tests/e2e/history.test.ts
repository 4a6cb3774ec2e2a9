import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { useStudio } from './harness.js';

// The history stays fast with 10 000 entries: the grid mounts only what is visible, pages
// load as you scroll, search and filters narrow the list. The library is filled by the
// library bench (realistic prompts; the images themselves are not on disk).
const { ui } = useStudio({
  seedHome: (home) => {
    execFileSync(process.execPath, ['--import', 'tsx', 'bench/library.ts', '--generations', '10000', '--repeat', '1', '--keep', home], { stdio: 'pipe' });
  },
});

/** The part of a scrolling element the test uses. */
interface Scroller {
  scrollTop: number;
  scrollHeight: number;
}

describe('history with 10 000 entries', () => {
  it('mounts only the visible cells and reaches the end by scrolling', async () => {
    const page = ui.page;
    await page.getByTestId('view-history').click();
    await expect.poll(() => page.getByTestId('history-total').textContent(), { timeout: 30_000 }).toBe('10000 entries');
    const mounted = await page.getByTestId('history-cell').count();
    expect(mounted).toBeGreaterThan(0);
    expect(mounted).toBeLessThan(200);

    // Scroll to the very end: the last cells come from later pages, and still few are mounted.
    const grid = page.getByTestId('history-grid');
    const frames = await grid.evaluate(async (host) => {
      // Runs in the page: scroll through the whole list, one step per animation frame. (The
      // Node-side type check has no DOM types: the element and rAF are named by what is used.)
      const el = host as unknown as Scroller;
      const raf = (globalThis as unknown as { requestAnimationFrame(cb: () => void): void }).requestAnimationFrame;
      const times: number[] = [];
      let last = performance.now();
      for (let i = 0; i < 60; i++) {
        el.scrollTop += el.scrollHeight / 60;
        await new Promise<void>((r) => raf(() => r()));
        const now = performance.now();
        times.push(now - last);
        last = now;
      }
      el.scrollTop = el.scrollHeight;
      return times;
    });
    const sorted = [...frames].sort((a, b) => a - b);
    console.log(`history scroll frame times over 10 000 entries: p50 ${sorted[30]?.toFixed(1)} ms, p95 ${sorted[57]?.toFixed(1)} ms, max ${sorted.at(-1)?.toFixed(1)} ms`);
    // The last entry is shown without loading the 49 pages before it.
    await page.locator('[data-testid="history-cell"][data-index="9999"]').waitFor({ timeout: 30_000 });
    expect(await page.getByTestId('history-cell').count()).toBeLessThan(200);
    const sizer = await grid.evaluate((el) => (el as unknown as Scroller).scrollHeight);
    expect(sizer).toBeGreaterThan(10_000 / 10 * 100);
  }, 120_000);

  it('searches and filters, and shows every parameter of an entry', async () => {
    const page = ui.page;
    await page.getByTestId('history-search').fill('lighthouse');
    await expect.poll(() => page.getByTestId('history-total').textContent().then((t) => Number(t?.split(' ')[0])), { timeout: 30_000 }).toBeLessThan(10_000);
    const lighthouses = Number((await page.getByTestId('history-total').textContent())?.split(' ')[0]);
    expect(lighthouses).toBeGreaterThan(0);
    await page.getByTestId('history-mode').selectOption('inpaint');
    await expect.poll(() => page.getByTestId('history-total').textContent().then((t) => Number(t?.split(' ')[0]))).toBeLessThan(lighthouses);
    await page.getByTestId('history-cell').first().click();
    const params = page.getByTestId('history-params');
    await expect.poll(() => params.textContent()).toMatch(/lighthouse/);
    expect(await params.textContent()).toMatch(/inpaint/);
    expect(await params.textContent()).toMatch(/sampler/);
  }, 60_000);
});
