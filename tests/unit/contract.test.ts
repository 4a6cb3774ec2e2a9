import { afterAll, describe, expect, it } from 'vitest';
import { API_VERSION, ApiError, StatusResult, methodNames } from '../../app/contract/index.js';
import { StudioService } from '../../app/service/index.js';
import { tempHome } from '../helpers/home.js';

const { home, cleanup } = tempHome();
const service = new StudioService({ transport: 'cli', home });
afterAll(async () => {
  await service.close();
  cleanup();
});

describe('StudioApi contract', () => {
  it('answers status with the app version and the devices found', async () => {
    const status = await service.call('status', {});
    expect(StatusResult.parse(status)).toEqual(status);
    expect(status.apiVersion).toBe(API_VERSION);
    expect(status.devices.some((d) => d.id === 'cpu' && d.available)).toBe(true);
    expect(status.home).toBe(home);
  });

  it('lists status among its members', () => {
    expect(methodNames).toContain('status');
  });

  it.each([
    ['not an object', 'hello'],
    ['null', null],
    ['missing version', { method: 'status' }],
    ['another version', { v: API_VERSION + 1, method: 'status' }],
    ['method not a string', { v: API_VERSION, method: 42 }],
    ['prototype key as method', { v: API_VERSION, method: '__proto__' }],
    ['unknown params', { v: API_VERSION, method: 'status', params: { surprise: true } }],
    ['params of the wrong type', { v: API_VERSION, method: 'status', params: 'x' }],
  ])('turns a malformed request (%s) into a typed error, never a throw', async (_label, raw) => {
    const response = await service.handle(raw);
    expect(response.ok).toBe(false);
    if (response.ok) return;
    expect(['bad_request', 'unknown_method']).toContain(response.error.code);
    expect(response.error.message.length).toBeGreaterThan(0);
  });

  it('names the version it speaks when a request names another', async () => {
    const response = await service.handle({ v: 999, method: 'status' });
    expect(response).toMatchObject({ ok: false, error: { code: 'bad_request', message: expect.stringContaining(`version ${API_VERSION}`) } });
  });

  it('throws ApiError from the typed in-process door', async () => {
    await expect(service.call('status', { bogus: 1 } as never)).rejects.toBeInstanceOf(ApiError);
  });

  it('delivers events to subscribers and survives a throwing one', () => {
    const seen: string[] = [];
    const off1 = service.subscribe(() => {
      throw new Error('broken subscriber');
    });
    const off2 = service.subscribe((e) => seen.push(e.type));
    service.emit({ type: 'hello', apiVersion: API_VERSION });
    off1();
    off2();
    service.emit({ type: 'hello', apiVersion: API_VERSION });
    expect(seen).toEqual(['hello']);
  });
});
