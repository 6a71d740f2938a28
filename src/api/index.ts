// The JSON control API under /api/v1: node registration and heartbeats, admin, tenants' KMS keys, and its OpenAPI
// description.

import { Hono } from "hono";
import type { Env } from "../env.ts";
import { adminApi } from "./admin.ts";
import { apiErrorResponse } from "./error-response.ts";
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

controlApi.onError((error, c) => apiErrorResponse(c, error, "api_error"));
