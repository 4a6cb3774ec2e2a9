import { type Download, type Locator, type Page } from 'playwright-core';
import { PNG } from 'pngjs';

export type Tool = 'select' | 'pan' | 'brush' | 'eraser' | 'line' | 'rect' | 'ellipse' | 'region' | 'mask' | 'mask-erase';

/** Canvas pixels in document coordinates, as the artist would point at them. */
export interface DocPoint {
  x: number;
  y: number;
}

/**
 * One attribute of every element a locator matches, in order. Read through Playwright rather
 * than in the page, so the Node-side type check needs no DOM types.
 */
export async function attributes(locator: Locator, name: string): Promise<Array<string | null>> {
  return Promise.all((await locator.all()).map((one) => one.getAttribute(name)));
}

/**
 * The studio screen as a test talks to it: tools, canvas gestures in document coordinates,
 * layers, prompt panel, gallery, history. Everything goes through what a person sees and
 * clicks; pixels are read back from the screen.
 */
export class StudioPage {
  constructor(readonly page: Page) {}

  get canvas(): Locator {
    return this.page.getByTestId('canvas');
  }

  async ready(): Promise<void> {
    await this.page.getByTestId('server-status').filter({ hasText: /· web$/ }).waitFor({ timeout: 30_000 });
    await this.canvas.waitFor();
    // The project session exists once the studio answered projects.new (or a recovery).
    await this.page.locator('[data-testid="project-name"][data-session="ready"]').waitFor({ timeout: 30_000 });
    // The canvas fits itself once it has a size.
    await this.canvas.locator('canvas').nth(1).waitFor({ state: 'attached' });
  }

  /**
   * Resolves once the page has drawn two more frames: what React and the canvas had to do for
   * the events before has reached the screen. Wait on this (a condition), not on a duration,
   * before checking that something did not happen.
   */
  async nextFrames(): Promise<void> {
    await this.page.evaluate('new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)))');
  }

  async tool(tool: Tool): Promise<void> {
    await this.page.getByTestId(`tool-${tool}`).click();
  }

  async scale(): Promise<number> {
    return Number(await this.canvas.getAttribute('data-scale'));
  }

  /** Screen position (page coordinates) of a document point, from the stage's transform. */
  async toScreen(p: DocPoint): Promise<DocPoint> {
    const box = await this.canvas.boundingBox();
    if (!box) throw new Error('canvas not visible');
    const [x, y, scale] = await Promise.all(['data-vx', 'data-vy', 'data-scale'].map(async (a) => Number(await this.canvas.getAttribute(a))));
    const view = { x: x ?? 0, y: y ?? 0, scale: scale ?? 1 };
    return { x: box.x + view.x + p.x * view.scale, y: box.y + view.y + p.y * view.scale };
  }

  /** A pointer drag through document points (pointer down at the first, up at the last). */
  async drag(points: DocPoint[], options: { steps?: number; shift?: boolean } = {}): Promise<void> {
    const [first, ...rest] = points;
    if (!first) return;
    const start = await this.toScreen(first);
    if (options.shift) await this.page.keyboard.down('Shift');
    await this.page.mouse.move(start.x, start.y);
    await this.page.mouse.down();
    for (const p of rest) {
      const s = await this.toScreen(p);
      await this.page.mouse.move(s.x, s.y, { steps: options.steps ?? 4 });
    }
    await this.page.mouse.up();
    if (options.shift) await this.page.keyboard.up('Shift');
  }

  /**
   * A pen drag through document points, each with its pressure (0…1), sent as the browser's
   * own pen input (CDP Input.dispatchMouseEvent with pointerType 'pen' and force), so the
   * studio sees PointerEvents with pointerType 'pen' and that pressure.
   */
  async penDrag(points: Array<DocPoint & { pressure: number }>): Promise<void> {
    const cdp = await this.page.context().newCDPSession(this.page);
    try {
      const send = async (type: 'mousePressed' | 'mouseMoved' | 'mouseReleased', p: DocPoint & { pressure: number }) => {
        const s = await this.toScreen(p);
        await cdp.send('Input.dispatchMouseEvent', { type, x: s.x, y: s.y, button: 'left', buttons: type === 'mouseReleased' ? 0 : 1, clickCount: 1, pointerType: 'pen', force: p.pressure });
      };
      const [first, ...rest] = points;
      if (!first) return;
      await send('mousePressed', first);
      for (const p of rest) await send('mouseMoved', p);
      await send('mouseReleased', points.at(-1) ?? first);
    } finally {
      await cdp.detach();
    }
  }

  /** The generation frame's size as the Width and Height fields show it. */
  async frameSize(): Promise<{ width: number; height: number }> {
    const [width, height] = await Promise.all(['width', 'height'].map(async (f) => Number(await this.page.getByTestId(f).inputValue())));
    return { width: width ?? NaN, height: height ?? NaN };
  }

  /**
   * Drags a resize handle of the generation frame (move tool, V) to a document point. The
   * frame sits at `frame` (its top-left, canvas pixels) with the fields' size.
   */
  async dragFrameHandle(handle: 'right' | 'bottom' | 'corner', to: DocPoint, frame: DocPoint = { x: 0, y: 0 }): Promise<void> {
    await this.press('v');
    const { width, height } = await this.frameSize();
    // Grab the handle once the move tool is on and the frame on screen has the fields' size:
    // a drag planned on a frame not yet redrawn starts off its handle (seen on a loaded machine).
    await this.page.locator(`[data-testid="canvas"][data-tool="select"][data-frame="${frame.x},${frame.y},${width},${height}"]`).waitFor();
    const from = { x: handle === 'bottom' ? frame.x + width / 2 : frame.x + width, y: handle === 'right' ? frame.y + height / 2 : frame.y + height };
    await this.drag([from, to]);
  }

  /** The colour on screen at a document point: [r, g, b]. */
  async pixel(p: DocPoint): Promise<[number, number, number]> {
    const s = await this.toScreen(p);
    const shot = await this.page.screenshot({ clip: { x: Math.floor(s.x), y: Math.floor(s.y), width: 1, height: 1 } });
    const png = PNG.sync.read(shot);
    return [png.data[0] ?? 0, png.data[1] ?? 0, png.data[2] ?? 0];
  }

  async isDark(p: DocPoint): Promise<boolean> {
    const [r, g, b] = await this.pixel(p);
    return r + g + b < 150;
  }

  async isWhite(p: DocPoint): Promise<boolean> {
    const [r, g, b] = await this.pixel(p);
    return r > 240 && g > 240 && b > 240;
  }

  /** Reddish: the mask overlay over white paper. */
  async isMasked(p: DocPoint): Promise<boolean> {
    const [r, g, b] = await this.pixel(p);
    return r > 200 && g < 200 && b < 220 && r - g > 50;
  }

  layers(): Locator {
    return this.page.getByTestId('layer');
  }

  layer(name: string): Locator {
    return this.layers().filter({ has: this.page.getByTestId('layer-name').getByText(name, { exact: true }) });
  }

  async layerNames(): Promise<string[]> {
    return this.page.getByTestId('layer-name').allTextContents();
  }

  async undo(): Promise<void> {
    await this.canvas.focus();
    await this.page.keyboard.press('Control+z');
  }

  async redo(): Promise<void> {
    await this.canvas.focus();
    await this.page.keyboard.press('Shift+Control+z');
  }

  async press(key: string): Promise<void> {
    await this.canvas.focus();
    await this.page.keyboard.press(key);
  }

  async setPrompt(text: string): Promise<void> {
    await this.page.getByTestId('prompt').fill(text);
  }

  /** The prompt box's autocomplete list. */
  promptSuggestions(): Locator {
    return this.page.getByTestId('prompt-suggestions');
  }

  /**
   * The same studio in a new browser profile (no local prompt history or presets), as a
   * second window or another machine on the network would open it. Close its context after.
   */
  async freshWindow(url: string): Promise<StudioPage> {
    const browser = this.page.context().browser();
    if (!browser) throw new Error('no browser behind this page');
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    const page = await context.newPage();
    await page.goto(url);
    const fresh = new StudioPage(page);
    await fresh.ready();
    return fresh;
  }

  errorToasts(): Locator {
    return this.page.getByTestId('toast-error');
  }

  candidates(): Locator {
    return this.page.getByTestId('candidate');
  }

  async addModel(folder: string): Promise<void> {
    await this.page.getByTestId('model-folder').fill(folder);
    await this.page.getByTestId('add-model').click();
    await this.page.getByTestId('model-folder').and(this.page.locator('[value=""]')).waitFor({ timeout: 60_000 });
  }

  async settings(values: Partial<Record<'width' | 'height' | 'steps' | 'batch' | 'cfg' | 'seed', number>>): Promise<void> {
    for (const [name, value] of Object.entries(values)) await this.page.getByTestId(name).fill(String(value));
  }

  async newProject(): Promise<void> {
    const before = await this.canvas.getAttribute('data-doc');
    await this.page.getByTestId('project-new').click();
    await this.page.locator(`[data-testid="canvas"]:not([data-doc="${before}"])`).waitFor();
    await this.page.locator('[data-testid="project-name"][data-session="ready"]').waitFor();
  }

  async saveAs(file: string): Promise<void> {
    await this.page.getByTestId('project-save-as').click();
    await this.page.getByTestId('path-input').fill(file);
    await this.page.getByTestId('path-submit').click();
    await this.page.getByTestId('path-dialog').waitFor({ state: 'detached' });
  }

  async open(file: string): Promise<void> {
    await this.page.getByTestId('project-open').click();
    await this.page.getByTestId('path-input').fill(file);
    await this.page.getByTestId('path-submit').click();
    await this.page.getByTestId('path-dialog').waitFor({ state: 'detached' });
  }

  async exportAs(format: 'png' | 'ora' | 'psd' | 'contact-sheet', file: string): Promise<void> {
    await this.page.getByTestId('project-export').selectOption(format);
    await this.page.getByTestId('path-input').fill(file);
    await this.page.getByTestId('path-submit').click();
    await this.page.getByTestId('path-dialog').waitFor({ state: 'detached' });
  }

  /** Web door: "Open from this computer" through the browser's file input. */
  async uploadProject(file: string): Promise<void> {
    await this.page.getByTestId('project-upload-input').setInputFiles(file);
  }

  /** Web door: a browser download of the project or an export; resolves with the download. */
  async download(format: 'atelier' | 'png' | 'ora' | 'psd' | 'contact-sheet'): Promise<Download> {
    const started = this.page.waitForEvent('download', { timeout: 60_000 });
    await this.page.getByTestId('project-download').selectOption(format);
    return started;
  }
}
