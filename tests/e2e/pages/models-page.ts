import type { Locator, Page } from 'playwright-core';

/**
 * The model manager as an artist uses it (renderer/src/models): opened from the prompt panel's
 * "Manage…" beside the model picker; import by path, download by repo id, the jobs with their
 * progress, each model's details, rename, defaults, use, delete with its confirmation.
 */
export class ModelsPage {
  constructor(readonly page: Page) {}

  get dialog(): Locator {
    return this.page.getByTestId('model-manager');
  }

  /** Opens the manager from the prompt panel and waits for the list. */
  async open(): Promise<void> {
    await this.page.getByTestId('open-model-manager').click();
    await this.dialog.getByTestId('model-row').first().waitFor();
  }

  async close(): Promise<void> {
    await this.dialog.getByTestId('models-close').click();
    await this.dialog.waitFor({ state: 'detached' });
  }

  rows(): Locator {
    return this.dialog.getByTestId('model-row');
  }

  row(name: string): Locator {
    return this.dialog.locator(`[data-testid="model-row"][data-name="${name}"]`);
  }

  async names(): Promise<string[]> {
    return Promise.all((await this.rows().all()).map(async (r) => (await r.getAttribute('data-name')) ?? ''));
  }

  jobs(): Locator {
    return this.dialog.getByTestId('models-job');
  }

  /** The newest job's row once it has ended (completed, failed or cancelled). */
  async lastJobEnded(timeout = 120_000): Promise<Locator> {
    const job = this.jobs().first();
    await job.and(this.page.locator('[data-state="completed"], [data-state="failed"], [data-state="cancelled"]')).waitFor({ timeout });
    return job;
  }

  /**
   * Submits the form and resolves once the new job's row leads the list, so that lastJobEnded
   * waits on this job and not on the one before it (rows are keyed by job id; the list keeps 5).
   */
  private async submitJob(): Promise<void> {
    const before = (await this.jobs().count()) > 0 ? await this.jobs().first().getAttribute('data-job') : null;
    await this.dialog.getByTestId('models-add-submit').click();
    const fresh = before === null ? this.jobs().first() : this.dialog.locator(`[data-testid="models-job"]:first-child:not([data-job="${before}"])`);
    await fresh.waitFor();
  }

  async importFile(file: string, name?: string): Promise<void> {
    await this.dialog.getByTestId('models-tab-import').click();
    await this.dialog.getByTestId('models-import-path').fill(file);
    await this.dialog.getByTestId('models-add-name').fill(name ?? '');
    await this.submitJob();
  }

  /** Web mode: the checkpoint (and its companions) chosen in the browser's file picker; resolves once its import job leads the list. */
  async uploadFiles(files: string[], name?: string): Promise<void> {
    await this.dialog.getByTestId('models-tab-import').click();
    await this.dialog.getByTestId('models-add-name').fill(name ?? '');
    const before = (await this.jobs().count()) > 0 ? await this.jobs().first().getAttribute('data-job') : null;
    await this.dialog.getByTestId('models-upload-input').setInputFiles(files);
    const fresh = before === null ? this.jobs().first() : this.dialog.locator(`[data-testid="models-job"]:first-child:not([data-job="${before}"])`);
    await fresh.waitFor({ timeout: 60_000 });
  }

  async download(ref: string, name?: string): Promise<void> {
    await this.dialog.getByTestId('models-tab-download').click();
    await this.dialog.getByTestId('models-download-ref').fill(ref);
    await this.dialog.getByTestId('models-add-name').fill(name ?? '');
    await this.submitJob();
  }

  /** Selects a model in the list; resolves once its details show. */
  async select(name: string): Promise<Locator> {
    await this.row(name).click();
    const id = await this.row(name).getAttribute('data-model');
    const detail = this.dialog.locator(`[data-testid="model-detail"][data-model="${id}"]`);
    await detail.waitFor();
    return detail;
  }

  get detail(): Locator {
    return this.dialog.getByTestId('model-detail');
  }

  async rename(to: string): Promise<void> {
    await this.detail.getByTestId('model-rename-input').fill(to);
    await this.detail.getByTestId('model-rename').click();
    await this.row(to).waitFor();
  }

  async setDefaults(values: Partial<Record<'width' | 'height' | 'steps' | 'cfg' | 'vae', string | number>> & { sampler?: string }): Promise<void> {
    for (const [key, value] of Object.entries(values)) {
      const field = this.detail.getByTestId(`model-default-${key}`);
      if (key === 'sampler') await field.selectOption(String(value));
      else await field.fill(String(value));
    }
    const save = this.detail.getByTestId('model-defaults-save');
    await save.click();
    // Saved: the form equals the stored defaults again, so Save is off.
    await save.and(this.page.locator(':disabled')).waitFor();
  }

  /** "Use this model": picks it with its defaults and closes the manager. */
  async use(): Promise<void> {
    await this.detail.getByTestId('model-use').click();
    await this.dialog.waitFor({ state: 'detached' });
  }

  /** Delete… then, in the confirmation, Delete (or Cancel). */
  async delete(confirm: boolean): Promise<void> {
    await this.detail.getByTestId('model-delete').click();
    const box = this.detail.getByTestId('model-delete-confirm');
    await box.waitFor();
    await box.getByTestId(confirm ? 'model-delete-yes' : 'model-delete-cancel').click();
    await box.waitFor({ state: 'detached' });
  }
}
