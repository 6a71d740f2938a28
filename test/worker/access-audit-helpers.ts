// Reading an account's access audit log in tests (GET /api/v1/access-audit).

import { expect } from "vitest";
import type { TestAccount } from "./helpers.ts";
import { signedApi } from "./key-helpers.ts";

/** The account's audit entries about the given targets, oldest first (one page is enough for these tests). */
export async function recordedChanges(account: TestAccount, targets: string[]): Promise<{ action: string; before: unknown; after: unknown }[]> {
  const res = await signedApi(account, "GET", "/access-audit?limit=200");
  expect(res.status).toBe(200);
  const { entries } = (await res.json()) as { entries: { action: string; target: string; before: unknown; after: unknown }[] };
  return entries.filter((e) => targets.includes(e.target));
}
