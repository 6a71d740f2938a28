// JSON bodies of the control API: read with the hard byte cap (body-limit.ts), then validated with zod.

import type { z } from "zod";
import { ApiError, parseWith } from "../errors.ts";
import { MAX_CONTROL_BODY_BYTES, readTextWithLimit } from "./body-limit.ts";

/** Parses a JSON body with a zod schema: over `maxBytes` is a 413, bad JSON a 400 InvalidJson, a bad field a 400 ValidationError. */
export async function parseJsonBody<T extends z.ZodType>(request: Request, schema: T, maxBytes = MAX_CONTROL_BODY_BYTES): Promise<z.infer<T>> {
  return parseJsonText(await readTextWithLimit(request, maxBytes), schema);
}

/** Parses JSON text already read (a signed body) with a zod schema. */
export function parseJsonText<T extends z.ZodType>(text: string, schema: T): z.infer<T> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ApiError(400, "InvalidJson", "The request body is not valid JSON.");
  }
  return parseWith(schema, json);
}
