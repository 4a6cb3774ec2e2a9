import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ApiError } from '../../app/contract/errors.js';
import { assertWritableFolder, assertWritableTarget, isSpecialFilesystemPath } from '../../app/service/paths.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'atelier-paths-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function refusal(promise: Promise<unknown>): Promise<ApiError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(ApiError);
    return error as ApiError;
  }
  throw new Error('expected a refusal');
}

describe('special file system paths (issue 17)', () => {
  it('names /proc, /sys and /dev on POSIX, device names on Windows', () => {
    for (const p of ['/proc/x/y.png', '/proc', '/sys/kernel/out.png', '/dev/null', '/tmp/../proc/1/mem']) expect(isSpecialFilesystemPath(p, 'linux')).toBe(true);
    for (const p of ['/tmp/out.png', '/procession/a.png', '/home/u/dev/x.png', 'relative/out.png']) expect(isSpecialFilesystemPath(p, 'linux')).toBe(false);
    for (const p of ['\\\\.\\PhysicalDrive0', 'C:\\work\\NUL', 'C:\\work\\con.png', '\\\\?\\GLOBALROOT\\Device\\x']) expect(isSpecialFilesystemPath(p, 'win32')).toBe(true);
    for (const p of ['C:\\work\\out.png', '\\\\?\\C:\\long\\out.png', 'D:\\console\\a.png']) expect(isSpecialFilesystemPath(p, 'win32')).toBe(false);
  });

  it('accepts a fresh file in a folder that does not exist yet', async () => {
    expect(await assertWritableTarget(path.join(tmp, 'a', 'b', 'out.png'))).toBe(path.join(tmp, 'a', 'b', 'out.png'));
    expect(await assertWritableFolder(path.join(tmp, 'new-folder'))).toBe(path.join(tmp, 'new-folder'));
  });

  it.runIf(process.platform === 'linux')('refuses /proc, /sys and devices up front with bad_request', async () => {
    for (const p of ['/proc/x/y.png', '/sys/out.png', '/dev/null', '/dev/shm/../null']) {
      const error = await refusal(assertWritableTarget(p));
      expect(error.code).toBe('bad_request');
      expect(error.message).toMatch(/special file system/);
    }
    expect((await refusal(assertWritableFolder('/proc/x'))).code).toBe('bad_request');
  });

  it.runIf(process.platform === 'linux')('follows a symlink into /proc', async () => {
    fs.symlinkSync('/proc/self', path.join(tmp, 'link'));
    const error = await refusal(assertWritableTarget(path.join(tmp, 'link', 'out.png')));
    expect(error.message).toMatch(/special file system/);
    expect((await refusal(assertWritableFolder(path.join(tmp, 'link', 'x')))).code).toBe('bad_request');
  });

  it.runIf(process.platform !== 'win32')('refuses a FIFO, a folder, and a file standing where a folder is needed', async () => {
    const { execFileSync } = await import('node:child_process');
    const fifo = path.join(tmp, 'pipe.png');
    execFileSync('mkfifo', [fifo]);
    expect((await refusal(assertWritableTarget(fifo))).message).toMatch(/not a regular file/);
    expect((await refusal(assertWritableTarget(tmp))).message).toMatch(/is a folder/);
    const file = path.join(tmp, 'plain.txt');
    fs.writeFileSync(file, 'x');
    expect((await refusal(assertWritableTarget(path.join(file, 'out.png')))).message).toMatch(/is a file, not a folder/);
    expect((await refusal(assertWritableFolder(file))).message).toMatch(/is a file, not a folder/);
    expect((await refusal(assertWritableFolder(path.join(file, 'sub')))).message).toMatch(/is a file, not a folder/);
  });
});
