// The JSON control API under /api/v1: node registration and heartbeats, admin, tenants' KMS keys, and its OpenAPI
// description.

import { Hono } from "hono";
import type { Env } from "../env.ts";
import { adminApi } from "./admin.ts";
import { ApiError } from "./errors.ts";
import { kmsApi } from "./kms.ts";
import { nodesApi } from "./nodes.ts";
import { openApiDocument } from "./openapi.ts";

export const controlApi = new Hono<{ Bindings: Env }>();

controlApi.route("/nodes", nodesApi);
controlApi.route("/admin", adminApi);
controlApi.route("/kms", kmsApi);
controlApi.get("/openapi.json", (c) => c.json(openApiDocument()));

controlApi.notFound((c) => c.json(new ApiError(404, "NotFound", `No API route ${c.req.method} ${new URL(c.req.url).pathname}`).toBody(), 404));

controlApi.onError((error, c) => {
  if (error instanceof ApiError) return c.json(error.toBody(), error.status);
  console.error(JSON.stringify({ event: "api_error", path: new URL(c.req.url).pathname, error: String(error), stack: (error as Error)?.stack }));
  return c.json({ code: "InternalError", message: "An internal error occurred." }, 500);
});
