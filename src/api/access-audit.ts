// The account's access-control audit log (/api/v1/access-audit): every change of who may do what to its keys and
// buckets (src/db/access-audit.ts), oldest first, a page at a time. Signed like the key routes (service "iam", an
// unrestricted key of the account); an account reads only its own entries.
//
//   curl --aws-sigv4 "aws:amz:us-east-1:iam" --user "$AKID:$SECRET" 'http://127.0.0.1:8787/api/v1/access-audit?limit=100'

import { Hono } from "hono";
import { z } from "zod";
import { listAccessChanges } from "../db/access-audit.ts";
import { openDb } from "../db/client.ts";
import type { Env } from "../env.ts";
import { ACCOUNT_SIGV4_SERVICE } from "./access-keys.ts";
import { accountAuthentication, type AuthenticatedAccount } from "./account-auth.ts";
import { parseWith } from "./errors.ts";

export const accessAuditQuerySchema = z.object({
  /** The `next` of the previous page: entries after it. */
  after: z.string().regex(/^\d{1,16}$/, "must be a cursor from a previous page").optional(),
  limit: z
    .string()
    .regex(/^\d{1,4}$/)
    .transform(Number)
    .pipe(z.number().int().min(1).max(1000))
    .default(100),
});

export const accessAuditApi = new Hono<{ Bindings: Env; Variables: { caller: AuthenticatedAccount } }>();

accessAuditApi.use("*", accountAuthentication(ACCOUNT_SIGV4_SERVICE));

accessAuditApi.get("/", async (c) => {
  const { accountId } = c.get("caller");
  const q = parseWith(accessAuditQuerySchema, c.req.query());
  const entries = await listAccessChanges(openDb(c.env.DB), accountId, { after: q.after === undefined ? undefined : Number(q.after), limit: q.limit });
  const next = entries.length === q.limit ? entries[entries.length - 1]!.id : null;
  return c.json({ entries, next });
});
