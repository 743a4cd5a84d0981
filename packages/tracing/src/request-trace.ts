import {
  type Attributes,
  context as contextApi,
  type Context as OtelContext,
  type Span,
  SpanStatusCode,
} from '@opentelemetry/api';
import { attrMethod, attrMethodOriginal, attrServerAddress, attrServerPort } from './attributes.js';

/** The CLIENT span of one attempt in flight. */
export interface AttemptTrace {
  readonly span: Span;
  /** `performance.now()` when it started: span start and metric duration share it. */
  readonly startedAt: number;
}

/** What tracing keeps for one logical HTTP request, in its execution context. */
export class RequestTrace {
  /** The INTERNAL span of the whole request. */
  readonly span: Span;
  /** The OpenTelemetry context with that span active: the parent of attempts and what they run in. */
  readonly otelContext: OtelContext;
  /** `http.request.method` (and `_original`), `server.address`, `server.port`: on every span and metric. */
  readonly common: Attributes;
  /** `url.full`, redacted. */
  readonly url: string;
  /** The name of each attempt's CLIENT span: the method, or `HTTP` for an unknown one. */
  readonly clientSpanName: string;
  /** CLIENT spans in flight, by attempt number. */
  readonly attempts: Map<number, AttemptTrace> = new Map();
  ended = false;

  constructor(span: Span, otelContext: OtelContext, common: Attributes, url: string, clientSpanName: string) {
    this.span = span;
    this.otelContext = otelContext;
    this.common = common;
    this.url = url;
    this.clientSpanName = clientSpanName;
  }

  /** Adds an event to the request's span, unless it has ended. */
  addEvent(name: string, attributes: Attributes): void {
    if (!this.ended) this.span.addEvent(name, attributes);
  }
}

/** Marks a span as failed with `error.type`, as the semantic conventions say: no description. */
export function setError(span: Span, type: string): void {
  span.setAttribute('error.type', type);
  span.setStatus({ code: SpanStatusCode.ERROR });
}

/** The `scope` hook of the http channels. */
export type Scope = <R>(run: () => R) => R;

/** A scope that runs inside `otelContext`, around whatever scope an earlier subscriber set. */
export function scopeIn(otelContext: OtelContext, inner: Scope | undefined): Scope {
  return inner === undefined
    ? (run) => contextApi.with(otelContext, run)
    : (run) => contextApi.with(otelContext, () => inner(run));
}

const knownMethods: ReadonlySet<string> = new Set([
  'CONNECT',
  'DELETE',
  'GET',
  'HEAD',
  'OPTIONS',
  'PATCH',
  'POST',
  'PUT',
  'QUERY',
  'TRACE',
]);

/** The attributes every span and metric of a request carries, from its method and origin. */
export function commonAttributes(method: string, origin: string): Attributes {
  const attributes: Attributes = {};
  if (knownMethods.has(method)) {
    attributes[attrMethod] = method;
  } else {
    attributes[attrMethod] = '_OTHER';
    attributes[attrMethodOriginal] = method;
  }
  const schemeEnd = origin.indexOf('://');
  const scheme = schemeEnd === -1 ? '' : origin.slice(0, schemeEnd).toLowerCase();
  let host = schemeEnd === -1 ? origin : origin.slice(schemeEnd + 3);
  let port: number | undefined;
  const colon = host.lastIndexOf(':');
  if (colon !== -1 && colon > host.lastIndexOf(']')) {
    port = Number(host.slice(colon + 1));
    host = host.slice(0, colon);
  }
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  port ??= scheme === 'https' ? 443 : scheme === 'http' ? 80 : undefined;
  attributes[attrServerAddress] = host;
  if (port !== undefined && Number.isInteger(port)) attributes[attrServerPort] = port;
  return attributes;
}
