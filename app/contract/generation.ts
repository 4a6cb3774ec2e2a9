import type { z } from 'zod';

// StudioApi members for the generation area. Each entry: { params: schema, result: schema }.
// Add events to generationEvents; api.ts composes them into the StudioApi.
export const generationMethods = {} as const;

export const generationEvents = [] as const satisfies readonly z.ZodObject[];
