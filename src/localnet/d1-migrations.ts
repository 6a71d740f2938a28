// D1 migrations applied as `wrangler d1 migrations apply DB --local` applies them, in the same bookkeeping table
// (`d1_migrations`: id, name, applied_at), so a database migrated by either is up to date for the other
// (`npm run dev`, the previous release's state). Each pending file runs in one batch with its bookkeeping row: a
// migration that fails leaves nothing half applied.
// https://developers.cloudflare.com/d1/reference/migrations/

import { readdir, readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";
import { REPO_ROOT } from "./paths.ts";

/** The part of a D1 binding (Miniflare's getD1Database) used here; Workers' types stay out of Node tooling. */
export interface D1Database {
  exec(sql: string): Promise<unknown>;
  prepare(sql: string): D1Statement;
  batch(statements: D1Statement[]): Promise<unknown>;
}
interface D1Statement {
  bind(...values: unknown[]): D1Statement;
  all<T>(): Promise<{ results: T[] }>;
}

/** wrangler's own statement splitter (comments, quoted semicolons, triggers' BEGIN…END). */
function splitSqlQuery(sql: string): string[] {
  return (createRequire(join(REPO_ROOT, "package.json"))("wrangler") as { unstable_splitSqlQuery(sql: string): string[] }).unstable_splitSqlQuery(sql);
}

/** Applies the `*.sql` files of `dir` not yet recorded in d1_migrations, in name order; returns their names. */
export async function applyD1Migrations(db: D1Database, dir: string): Promise<string[]> {
  await db.exec(
    "CREATE TABLE IF NOT EXISTS d1_migrations(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE, applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL);",
  );
  const applied = new Set((await db.prepare("SELECT name FROM d1_migrations").all<{ name: string }>()).results.map((r) => r.name));
  const pending = (await readdir(dir)).filter((f) => f.endsWith(".sql") && !applied.has(f)).sort();
  for (const name of pending) {
    const statements = splitSqlQuery(await readFile(join(dir, name), "utf8")).filter((s) => s.trim() !== "");
    await db.batch([...statements.map((s) => db.prepare(s)), db.prepare("INSERT INTO d1_migrations (name) VALUES (?)").bind(name)]);
  }
  return pending;
}
