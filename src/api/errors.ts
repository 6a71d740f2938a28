// Control-API errors: every failure is JSON `{ code, message, details? }` with a stable code.

import type { ContentfulStatusCode } from "hono/utils/http-status";
import { z } from "zod";
import type { ErrorBody } from "../protocol/node-protocol.ts";

export class ApiError extends Error {
  readonly status: ContentfulStatusCode;
  readonly code: string;
  readonly details?: unknown;
  constructor(status: ContentfulStatusCode, code: string, message: string, details?: unknown) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details;
  }

  /** Headers the answer needs besides the JSON body (Retry-After on a 429). */
  responseHeaders(): Record<string, string> {
    return {};
  }

  toBody(): ErrorBody {
    return this.details === undefined ? { code: this.code, message: this.message } : { code: this.code, message: this.message, details: this.details };
  }
}

export function parseWith<T extends z.ZodType>(schema: T, value: unknown): z.infer<T> {
  const result = schema.safeParse(value);
  if (!result.success) {
    throw new ApiError(400, "ValidationError", z.prettifyError(result.error), result.error.issues.map((i) => ({ path: i.path.join("."), message: i.message })));
  }
  return result.data;
}
