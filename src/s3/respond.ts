// Turning results and errors into S3 HTTP responses: the one place that renders S3Error as XML.

import { S3Error } from "./errors.ts";
import { toXml, type XmlNode } from "./xml.ts";

export function xmlResponse(root: string, body: XmlNode, init: ResponseInit = {}): Response {
  const headers = new Headers(init.headers);
  headers.set("content-type", "application/xml");
  return new Response(toXml(root, body), { ...init, headers });
}

/** Renders an S3 error (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html). HEAD gets no body. */
export function errorResponse(error: S3Error, requestId: string, resource: string, method: string): Response {
  const headers = new Headers({ "content-type": "application/xml" });
  if (error.code === "InvalidRange" && error.fields.ActualObjectSize) {
    headers.set("content-range", `bytes */${error.fields.ActualObjectSize}`);
  }
  if (method === "HEAD") return new Response(null, { status: error.status, headers });
  const body: XmlNode = { Code: error.code, Message: error.message, ...error.fields, Resource: resource, RequestId: requestId };
  // S3's error documents carry no namespace.
  return new Response(toXml("Error", body, null), { status: error.status, headers });
}

/** S3 renders timestamps in listings as ISO 8601 with milliseconds. */
export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}

/** HTTP-date (RFC 7231) for Last-Modified and friends. */
export function httpDate(ms: number): string {
  return new Date(ms).toUTCString();
}

export function quoteEtag(etag: string): string {
  return `"${etag}"`;
}
