import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isAddressInUse, newToken, readWebSession, writeWebSession } from '../../main/web/session-file.js';
import { tempHome } from '../helpers/home.js';

// Web mode's saved port and token (main/web/session-file.ts): what a restarted studio uses
// again so an open tab reconnects; anything but a well-formed session is ignored.
const { home, cleanup } = tempHome();
afterAll(cleanup);

describe('the saved web session', () => {
  it('round-trips, readable by the user only', () => {
    expect(readWebSession(home)).toBeNull();
    const session = { port: 43123, token: newToken() };
    writeWebSession(home, session);
    expect(readWebSession(home)).toEqual(session);
    if (process.platform !== 'win32') expect(fs.statSync(path.join(home, 'web-session.json')).mode & 0o777).toBe(0o600);
  });

  it('ignores a file cut short or holding something else', () => {
    const file = path.join(home, 'web-session.json');
    for (const text of ['{"port": 43', '{"port": 0, "token": "' + 'a'.repeat(32) + '"}', '{"port": 80, "token": "short"}', '{"port": 80, "token": "' + 'a'.repeat(31) + '!"}', 'null']) {
      fs.writeFileSync(file, text);
      expect(readWebSession(home)).toBeNull();
    }
  });

  it('knows a taken port', () => {
    expect(isAddressInUse(Object.assign(new Error('listen EADDRINUSE'), { code: 'EADDRINUSE' }))).toBe(true);
    expect(isAddressInUse(new Error('other'))).toBe(false);
  });
});
