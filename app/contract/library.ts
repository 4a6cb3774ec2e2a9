import type { z } from 'zod';

// StudioApi members for the library area. Each entry: { params: schema, result: schema }.
// Add events to libraryEvents; api.ts composes them into the StudioApi.
export const libraryMethods = {} as const;

export const libraryEvents = [] as const satisfies readonly z.ZodObject[];
