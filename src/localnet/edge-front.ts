// The local edge's front door: what Cloudflare's edge does in front of a Worker, and nothing more. workerd never
// answers `Expect: 100-continue`, so awscli/boto3 would stall 1 s on every upload (../shared/TOOLCHAIN.md); Node's
// server answers it at once. WebSocket upgrades pass through as a byte tunnel once the Worker accepts them.
// Everything else (method, path, Host, headers, body) passes through untouched, except the client's address, set
// as CF-Connecting-IP from the socket as Cloudflare does (observedClient), and `/cdn-cgi/`: Cloudflare's
// edge keeps that namespace for itself and never hands it to a Worker, and locally Miniflare answers it with the
// Worker's scheduled handler (cron-dispatcher.ts calls it on the Worker's own port).

import { Agent, createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from "node:http";
import { connect, type Socket } from "node:net";
import { pipeline } from "node:stream";

export interface EdgeFront {
  port: number;
  close(): Promise<void>;
}

export async function startEdgeFront(options: { port: number; upstream: string }): Promise<EdgeFront> {
  const upstream = new URL(options.upstream);
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const server = createServer({ requestTimeout: 0, keepAliveTimeout: 65_000 }, (req, res) => forward(req, res, upstream, agent));
  // Node answers any Expect other than 100-continue with 417 unless this event is handled; an empty Expect asks
  // for nothing, and S3 and Cloudflare pass such a request on (issue 15).
  server.on("checkExpectation", (req: IncomingMessage, res: ServerResponse) => {
    if ((req.headers.expect ?? "").trim() === "") return forward(req, res, upstream, agent);
    res.writeHead(417, { "content-type": "text/plain" });
    res.end("expectation failed\n");
  });
  // Upgraded connections leave the server's bookkeeping (closeAllConnections does not see them): closed here.
  const tunnels = new Set<Socket>();
  server.on("upgrade", (req: IncomingMessage, socket: Socket, head: Buffer) => {
    tunnels.add(socket);
    socket.once("close", () => tunnels.delete(socket));
    tunnel(req, socket, head, upstream);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, "127.0.0.1", () => resolve());
  });
  return {
    port: (server.address() as { port: number }).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        for (const socket of tunnels) socket.destroy();
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
  observedClient(headers, req.socket.remoteAddress);
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

/**
 * What the edge itself observed about the client, as Cloudflare passes it to a Worker: CF-Connecting-IP is the
 * connecting address, replacing any copy the client sent (bucket policies test it as aws:SourceIp). Miniflare's own
 * control headers (MF-Original-URL would set the URL, and so the scheme aws:SecureTransport reads) are never a
 * client's to send: Cloudflare's edge gives them no meaning, so they are dropped here.
 */
export function observedClient(headers: Record<string, string | string[] | undefined>, remoteAddress: string | undefined): void {
  for (const name of Object.keys(headers)) if (name.startsWith("mf-")) delete headers[name];
  if (remoteAddress === undefined) delete headers["cf-connecting-ip"];
  else headers["cf-connecting-ip"] = remoteAddress.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, "$1");
}

/**
 * An `Upgrade` request (a WebSocket handshake) relayed as bytes: the request head as received, then both directions
 * piped until either side closes. The Worker answers the handshake (101 or a refusal) itself.
 */
function tunnel(req: IncomingMessage, client: Socket, head: Buffer, upstream: URL): void {
  if (req.url?.startsWith("/cdn-cgi/")) {
    client.end("HTTP/1.1 404 Not Found\r\ncontent-length: 10\r\nconnection: close\r\n\r\nnot found\n");
    return;
  }
  let connected = false;
  const origin = connect(Number(upstream.port), upstream.hostname, () => {
    connected = true;
    const lines = [`${req.method} ${req.url} HTTP/${req.httpVersion}`];
    const observed: Record<string, string> = {};
    observedClient(observed, req.socket.remoteAddress);
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const name = req.rawHeaders[i]!.toLowerCase();
      if (name === "cf-connecting-ip" || name.startsWith("mf-")) continue;
      lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
    }
    for (const [name, value] of Object.entries(observed)) lines.push(`${name}: ${value}`);
    origin.write(`${lines.join("\r\n")}\r\n\r\n`);
    if (head.length > 0) origin.write(head);
    origin.pipe(client);
    client.pipe(origin);
  });
  origin.on("error", () => {
    if (!connected) client.end("HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    else client.destroy();
  });
  client.on("error", () => origin.destroy());
  client.on("close", () => origin.destroy());
}
