// A customer's own invoices (GET /api/v1/invoices), signed like GET /api/v1/usage: SigV4 with one of the account's
// unrestricted access keys, service "s3". The account is the one the key belongs to, never a parameter, so no
// request can name another account's invoices. Invoices exist once a period is closed (src/db/invoices.ts).

import { Hono } from "hono";
import { z } from "zod";
import { clockNow } from "../clock.ts";
import { configOf } from "../config.ts";
import { openDb } from "../db/client.ts";
import { listInvoices } from "../db/invoices.ts";
import type { Env } from "../env.ts";
import { authenticateAccount } from "./account-auth.ts";
import { parseWith } from "./errors.ts";
import { invoiceView } from "./finance-exports.ts";
import { USAGE_SIGV4_SERVICE } from "./usage.ts";

const periodId = z.string().regex(/^[\x21-\x7e]{1,64}$/, "must be a period id such as 2026-12");

export const customerInvoicesQuerySchema = z.object({
  period: periodId.optional(),
  /** The period id of the last invoice of the previous page. */
  after: periodId.optional(),
  limit: z
    .string()
    .regex(/^\d{1,4}$/)
    .transform(Number)
    .pipe(z.number().int().min(1).max(100))
    .default(24),
});

export const invoicesApi = new Hono<{ Bindings: Env }>();

invoicesApi.get("/invoices", async (c) => {
  const db = openDb(c.env.DB);
  const { accountId } = await authenticateAccount(c.req.raw, c.env, db, { service: USAGE_SIGV4_SERVICE, regions: configOf(c.env).s3Regions, now: await clockNow(c.env) });
  const q = parseWith(customerInvoicesQuerySchema, c.req.query());
  const after = q.after === undefined ? undefined : { periodId: q.after, accountId };
  const invoices = await listInvoices(db, { periodId: q.period, accountId, after, limit: q.limit });
  const next = invoices.length === q.limit ? invoices[invoices.length - 1]!.periodId : null;
  return c.json({
    accountId,
    invoices: invoices.map((i) => {
      const { accountId: _, ...view } = invoiceView(i);
      return view;
    }),
    next,
  });
});
