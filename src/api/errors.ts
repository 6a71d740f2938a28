// Control-API errors: every failure is JSON `{ code, message, details? }` with a stable code.

import { EdgeError } from "../protocol/errors.ts";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { z } from "zod";
import type { ErrorBody } from "../protocol/node-protocol.ts";

export class ApiError extends EdgeError<string, unknown> {
  readonly status: ContentfulStatusCode;
  constructor(status: ContentfulStatusCode, code: string, message: string, details?: unknown) {
    super(code, message, details);
    this.name = "ApiError";
    this.status = status;
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
