import type { z } from 'zod';

// StudioApi members for the projects area. Each entry: { params: schema, result: schema }.
// Add events to projectsEvents; api.ts composes them into the StudioApi.
export const projectsMethods = {} as const;

export const projectsEvents = [] as const satisfies readonly z.ZodObject[];
