// The JSON control API under /api/v1: node registration and heartbeats, admin, tenants' KMS keys, access keys and
// access audit log, and its OpenAPI description.

import { Hono, type Context } from "hono";
import { configOf } from "../config.ts";
import type { Env } from "../env.ts";
import { virtualHostedBucket } from "../s3/router.ts";
import { accessAuditApi } from "./access-audit.ts";
import { accessKeysApi } from "./access-keys.ts";
import { accountWalletApi } from "./account-wallet.ts";
import { adminApi } from "./admin.ts";
import { apiErrorResponse } from "./error-response.ts";
import { ApiError } from "./errors.ts";
import { financeApi } from "./finance.ts";
import { financeExportsApi } from "./finance-exports.ts";
import { claimsApi } from "./claims.ts";
import { financePeriodsApi } from "./finance-periods.ts";
import { invoicesApi } from "./invoices.ts";
import { kmsApi } from "./kms.ts";
import { nodesApi } from "./nodes.ts";
import { openApiDocument } from "./openapi.ts";
import { usageApi } from "./usage.ts";
import { validatorsApi } from "./validators.ts";

/**
 * Path-style requests under this prefix belong to the control API, whatever their method or host. A bucket named
 * `api` is a valid S3 name and may exist; its keys under `v1/` are reachable virtual-hosted style only.
 */
export const CONTROL_API_PREFIX = "/api/v1";

/**
 * Whether a request is for the control API: a path under /api/v1 on any host but a virtual-hosted bucket's, whose
 * every path is an object key (`api/v1/...` is a key like any other there).
 */
export function isControlApiRequest(request: Request, env: Env): boolean {
  const url = new URL(request.url);
  const underPrefix = url.pathname === CONTROL_API_PREFIX || url.pathname.startsWith(`${CONTROL_API_PREFIX}/`);
  return underPrefix && virtualHostedBucket(request.headers.get("host") ?? url.host, configOf(env).s3BaseDomains) === undefined;
}

export const controlApi = new Hono<{ Bindings: Env }>();

controlApi.route("/nodes", nodesApi);
// Before the admin API: its guard admits the admin token only, and finance ops read these too (each route guards itself).
controlApi.route("/admin/finance/periods", financePeriodsApi);
controlApi.route("/admin", adminApi);
controlApi.route("/kms", kmsApi);
controlApi.route("/access-keys", accessKeysApi);
controlApi.route("/access-audit", accessAuditApi);
controlApi.route("/account/wallet", accountWalletApi);
controlApi.route("/validators", validatorsApi);
controlApi.route("/finance", financeApi);
controlApi.route("/finance", financeExportsApi);
controlApi.route("/finance", claimsApi);
controlApi.route("/", usageApi);
controlApi.route("/", invoicesApi);
controlApi.get("/openapi.json", (c) => c.json(openApiDocument()));

/** The answer to a control-API path no route claims: a JSON 404, never the S3 surface. */
export function controlApiNotFound(c: Context): Response {
  return c.json(new ApiError(404, "NotFound", `No API route ${c.req.method} ${new URL(c.req.url).pathname}`).toBody(), 404);
}

controlApi.notFound(controlApiNotFound);

controlApi.onError((error, c) => apiErrorResponse(c, error, "api_error"));
