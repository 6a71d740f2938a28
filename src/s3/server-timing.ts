// Where an S3 request's time goes, for profiling the hot path: with the Worker var SERVER_TIMING = "true" (a local
// network's debug flag, never a deployment's) each S3 response carries a Server-Timing header
// (https://www.w3.org/TR/server-timing/) with the time spent authenticating, in D1, in Durable Object calls, in
// subrequests (to node-agents) and in the whole handler. Subrequests are timed through one fetch wrapper per
// isolate, so they are attributed exactly only while one request runs at a time (how the profile runs).

import type { Env } from "../env.ts";

export class ServerTiming {
  private readonly spans = new Map<string, { count: number; ms: number }>();

  add(name: string, ms: number): void {
    const span = this.spans.get(name) ?? { count: 0, ms: 0 };
    span.count++;
    span.ms += ms;
    this.spans.set(name, span);
  }

  async time<T>(name: string, work: () => Promise<T>): Promise<T> {
    const start = performance.now();
    try {
      return await work();
    } finally {
      this.add(name, performance.now() - start);
    }
  }

  /** `name;dur=ms;desc="count"` per span. */
  header(): string {
    return [...this.spans].map(([name, s]) => `${name};dur=${s.ms.toFixed(2)};desc="${s.count}"`).join(", ");
  }
}

export function serverTimingEnabled(env: Env): boolean {
  return (env as unknown as Record<string, unknown>).SERVER_TIMING === "true";
}

let current: ServerTiming | undefined;
let fetchWrapped = false;

/** `env` whose D1 statements and Durable Object calls report to `timing`; subrequests report to it too. */
export function timedEnv(env: Env, timing: ServerTiming): Env {
  current = timing;
  if (!fetchWrapped) {
    fetchWrapped = true;
    const plain = globalThis.fetch;
    globalThis.fetch = ((input: RequestInfo | URL, init?: RequestInit) => {
      const t = current;
      return t ? t.time("subrequest", () => plain(input, init)) : plain(input, init);
    }) as typeof fetch;
  }
  return new Proxy(env, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (prop === "DB") return timedD1(value as D1Database, timing);
      if (prop === "BUCKET_INDEX") return timedNamespace(value as DurableObjectNamespace, timing);
      return value;
    },
  });
}

function timedStatement(statement: D1PreparedStatement, timing: ServerTiming): D1PreparedStatement {
  return new Proxy(statement, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (typeof value !== "function") return value;
      if (prop === "bind") return (...args: unknown[]) => timedStatement(Reflect.apply(value, target, args), timing);
      if (prop === "first" || prop === "all" || prop === "run" || prop === "raw") return (...args: unknown[]) => timing.time("d1", () => Reflect.apply(value, target, args) as Promise<unknown>);
      return value.bind(target);
    },
  });
}

function timedD1(db: D1Database, timing: ServerTiming): D1Database {
  return new Proxy(db, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (typeof value !== "function") return value;
      if (prop === "prepare") return (sql: string) => timedStatement(target.prepare(sql), timing);
      if (prop === "batch") return (statements: D1PreparedStatement[]) => timing.time("d1", () => target.batch(statements));
      return value.bind(target);
    },
  });
}

function timedNamespace(ns: DurableObjectNamespace, timing: ServerTiming): DurableObjectNamespace {
  return new Proxy(ns, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (typeof value !== "function") return value;
      if (prop === "get" || prop === "getByName") {
        return (...args: unknown[]) => {
          const stub = Reflect.apply(value, target, args) as DurableObjectStub;
          return new Proxy(stub, {
            get(s, method) {
              const m = Reflect.get(s, method, s);
              if (typeof m !== "function" || typeof method !== "string" || method === "fetch" || method === "then") return m;
              return (...a: unknown[]) => timing.time("do", () => Reflect.apply(m, s, a) as Promise<unknown>);
            },
          });
        };
      }
      return value.bind(target);
    },
  });
}
