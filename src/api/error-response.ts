// The JSON surface's one error mapper: every error that leaves a control-API handler becomes `{ code, message,
// details? }` here. Domain errors keep their own codes; anything unknown is logged with its stack and answers a
// bare 500 InternalError, so internals never reach clients.

import type { Context } from "hono";
import { ChainError } from "../chain/errors.ts";
import { SigV4Error } from "../protocol/sigv4.ts";
import { KmsError } from "../services/kms.ts";
import { ApiError } from "./errors.ts";

/** The ApiError a known error answers as; undefined for errors clients must not see the details of. */
export function toApiError(error: unknown): ApiError | undefined {
  if (error instanceof ApiError) return error;
  // The failure's details (our canonical request) stay out of the response; the code and message are the client's.
  if (error instanceof SigV4Error) return new ApiError(403, error.code, error.message);
  if (error instanceof KmsError) {
    switch (error.code) {
      case "NotFound":
        return new ApiError(404, "NoSuchKmsKey", error.message);
      case "InvalidState":
        return new ApiError(409, "KmsKeyInvalidState", error.message);
      case "AliasTaken":
        return new ApiError(409, "AliasTaken", error.message);
    }
  }
  // A read or transaction the chain could not serve: retry later. (A refused transaction is the caller's to name.)
  if (error instanceof ChainError) return new ApiError(503, "ChainUnavailable", error.shortMessage);
  return undefined;
}

/** The response of hono's onError for the JSON surface; `event` names the log line of an unexpected error. */
export function apiErrorResponse(c: Context, error: unknown, event: string): Response {
  const known = toApiError(error);
  if (known) return c.json(known.toBody(), known.status, known.responseHeaders());
  console.error(JSON.stringify({ event, path: new URL(c.req.url).pathname, error: String(error), stack: (error as Error)?.stack }));
  return c.json({ code: "InternalError", message: "An internal error occurred." }, 500);
}
