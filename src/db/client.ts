import { drizzle } from "drizzle-orm/d1";
import * as schema from "./schema.ts";

export type Db = ReturnType<typeof createDb>;

function createDb(d1: D1Database) {
  return drizzle(d1, { schema });
}

// Building the drizzle client walks the whole schema (its relational config): once per binding, not per request.
const clients = new WeakMap<D1Database, Db>();

export function openDb(d1: D1Database): Db {
  let db = clients.get(d1);
  if (!db) clients.set(d1, (db = createDb(d1)));
  return db;
}
