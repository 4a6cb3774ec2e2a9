import { describe, expect, it } from 'vitest';
import { API_VERSION } from '../../app/contract/index.js';
import { useStudio } from './harness.js';

const { studio } = useStudio();

describe('studio in web mode', () => {
  it('loads and shows live status from the server', async () => {
    const status = studio.page.getByTestId('server-status');
    await expect.poll(() => status.textContent(), { timeout: 30_000 }).toMatch(/^v\d+\.\d+\.\d+ · web$/);
    await expect.poll(() => status.getAttribute('data-live'), { timeout: 30_000 }).toBe('true');
    expect(new URL(studio.page.url()).searchParams.has('token')).toBe(false);
  });

  it('refuses a request without the token', async () => {
    const stranger = await studio.browser.newContext();
    const res = await stranger.request.post(`${studio.origin}/api/call`, { data: { v: API_VERSION, method: 'status' } });
    expect(res.status()).toBe(401);
    const page = await stranger.newPage();
    const response = await page.goto(studio.origin);
    expect(response?.status()).toBe(401);
    await stranger.close();
  });

  it('refuses a request with a foreign Origin', async () => {
    const status = await studio.page.evaluate(async () => (await fetch('/api/call', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"v":1,"method":"status"}' })).status);
    expect(status).toBe(200);
    const res = await studio.context.request.post(`${studio.origin}/api/call`, { data: { v: API_VERSION, method: 'status' }, headers: { origin: 'http://evil.example' } });
    expect(res.status()).toBe(403);
  });
});
