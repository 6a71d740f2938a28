// Workers let one invocation hold at most six simultaneous open connections: a seventh subrequest waits until one
// of the six finishes (https://developers.cloudflare.com/workers/platform/limits/#simultaneous-open-connections).
// Local workerd does not enforce this, so a design that needs seven streams at once (and deadlocks on Cloudflare)
// would pass every local test. With CONNECTION_LIMIT_ENFORCED="true" (the end-to-end tests) every subrequest to a
// node goes through a per-invocation semaphore of six that behaves like Cloudflare's: it queues the seventh, and a
// connection stays open until its response body has been read to the end or cancelled. A request that would hang
// on Cloudflare hangs in the tests too, and every wait is logged (`connection_limit_wait`).

import { AsyncLocalStorage } from "node:async_hooks";

export const MAX_OPEN_CONNECTIONS = 6;

class ConnectionBudget {
  private open = 0;
  private readonly waiting: (() => void)[] = [];
  /** The most connections this invocation ever held at once. */
  peak = 0;

  async acquire(): Promise<() => void> {
    if (this.open >= MAX_OPEN_CONNECTIONS) {
      console.warn(JSON.stringify({ event: "connection_limit_wait", open: this.open }));
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    this.open++;
    this.peak = Math.max(this.peak, this.open);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.open--;
      this.waiting.shift()?.();
    };
  }
}

const budgets = new AsyncLocalStorage<ConnectionBudget>();

/** Runs one invocation (a request or a scheduled event) under its own budget when `enforced`. */
export function withConnectionLimit<T>(enforced: boolean, run: () => T): T {
  return enforced ? budgets.run(new ConnectionBudget(), run) : run();
}

/** fetch, counted against the invocation's budget when one is enforced. */
export async function limitedFetch(request: Request, init?: RequestInit): Promise<Response> {
  const budget = budgets.getStore();
  if (!budget) return fetch(request, init);
  const release = await budget.acquire();
  let response: Response;
  try {
    response = await fetch(request, init);
  } catch (error) {
    release();
    throw error;
  }
  if (!response.body) {
    release();
    return response;
  }
  // The connection stays open until the body is read to its end or cancelled.
  const reader = response.body.getReader();
  // A byte stream, so readers can still read it BYOB (src/services/pipeline.ts).
  const source: UnderlyingByteSource = {
    type: "bytes",
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          release();
          controller.close();
          controller.byobRequest?.respond(0);
        } else controller.enqueue(value);
      } catch (error) {
        release();
        controller.error(error);
      }
    },
    cancel(reason) {
      release();
      return reader.cancel(reason);
    },
  };
  const body = new ReadableStream(source);
  return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
}
