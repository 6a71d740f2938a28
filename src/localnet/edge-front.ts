// The local edge's front door: a thin HTTP proxy in front of `wrangler dev`. workerd never answers
// `Expect: 100-continue`, so awscli/boto3 would stall 1 s on every upload (../shared/TOOLCHAIN.md); Node's
// server answers it at once. Everything else (method, path, Host, headers, body) passes through untouched, except
// `/cdn-cgi/`: Cloudflare's edge keeps that namespace for itself and never hands it to a Worker, and locally
// wrangler answers it with the Worker's scheduled handler (cron-dispatcher.ts calls it on the Worker's own port).

import { Agent, createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from "node:http";
import { pipeline } from "node:stream";

export interface EdgeFront {
  port: number;
  close(): Promise<void>;
}

export async function startEdgeFront(options: { port: number; upstream: string }): Promise<EdgeFront> {
  const upstream = new URL(options.upstream);
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const server = createServer({ requestTimeout: 0, keepAliveTimeout: 65_000 }, (req, res) => forward(req, res, upstream, agent));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, "127.0.0.1", () => resolve());
  });
  return {
    port: (server.address() as { port: number }).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
        agent.destroy();
      }),
  };
}

function forward(req: IncomingMessage, res: ServerResponse, upstream: URL, agent: Agent): void {
  if (req.url?.startsWith("/cdn-cgi/")) {
    req.resume();
    res.writeHead(404, { "content-type": "text/plain" });
    res.end("not found\n");
    return;
  }
  const headers = { ...req.headers };
  delete headers.expect;
  const outbound = httpRequest(
    { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers, agent },
    (upstreamRes) => {
      // The client gave up (an agent aborting a heartbeat while it shuts down): pipeline() would throw.
      if (res.destroyed) {
        upstreamRes.resume();
        return;
      }
      res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.statusMessage, upstreamRes.rawHeaders);
      pipeline(upstreamRes, res, () => {});
    },
  );
  outbound.on("error", (error) => {
    if (!res.headersSent) {
      res.writeHead(502, { "content-type": "text/plain" });
      res.end(`edge unavailable: ${error.message}\n`);
    } else {
      res.destroy(error);
    }
  });
  pipeline(req, outbound, () => {});
}
