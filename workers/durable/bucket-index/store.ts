// What every part of the bucket index works over: the Durable Object's SQLite storage, and its synchronous
// transactions for writes that touch several tables at once (nested calls become savepoints).

export type IndexStore = Pick<DurableObjectStorage, "sql" | "transactionSync">;
