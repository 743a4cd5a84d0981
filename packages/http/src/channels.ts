import { type Channel, channel } from 'node:diagnostics_channel';
import { type Context, describeValue, diagnosticsChannelName } from '@breakwater/core';
import type { HttpHeaderReader, HttpRequestInfo } from './request-info.js';

/**
 * Runs `run` inside something of the subscriber's, such as a tracing context, and returns what it returns.
 * It must call `run` exactly once, synchronously.
 */
export type HttpScope = <R>(run: () => R) => R;

/**
 * Payload of `breakwater:http:request-start`: a logical request (all its attempts) is about to run its
 * pipeline. Published after the request info is stored under `httpRequestKey`, before any policy runs.
 */
export interface HttpRequestStartEvent {
  /** The root context of the request; policies' events carry contexts that share its data. */
  readonly context: Context;
  readonly request: HttpRequestInfo;
  /**
   * Set it to run the whole pipeline inside your scope. A later subscriber that sets it too should wrap the
   * one already there: `const inner = event.scope; event.scope = (run) => mine(() => inner ? inner(run) : run())`.
   */
  scope: HttpScope | undefined;
}

/** Payload of `breakwater:http:attempt-start`: one attempt is about to be sent. */
export interface HttpAttemptStartEvent {
  /** The attempt's context. */
  readonly context: Context;
  readonly request: HttpRequestInfo;
  /** 1 for the first attempt that goes out, 2 for the first resend, ... */
  readonly attempt: number;
  /**
   * Sets a request header on this attempt only (replacing one of the same name), e.g. `traceparent`. The
   * caller's headers, init and options are never changed. Throws a TypeError for an invalid name or a value
   * with CR, LF or NUL.
   */
  setHeader(name: string, value: string): void;
  /** Set it to send this attempt inside your scope; wrap one that is already there (see request-start). */
  scope: HttpScope | undefined;
}

/**
 * Payload of `breakwater:http:attempt-end`, once per attempt that was sent: when its response headers
 * arrived (whatever the status) or when it failed without a response.
 */
export interface HttpAttemptEndEvent {
  readonly context: Context;
  readonly request: HttpRequestInfo;
  readonly attempt: number;
  /** The response status; `undefined` when no response came. */
  readonly statusCode: number | undefined;
  /** Why no response came (a network error, a timeout, an abort); `undefined` when one came. */
  readonly error: unknown;
  /** The response headers; `undefined` when no response came. */
  readonly responseHeaders: HttpHeaderReader | undefined;
}

/**
 * Payload of `breakwater:http:request-end`, once per logical request, when the caller's answer is decided:
 * the response (its headers) it gets, or the error it gets, the caller's own abort included.
 */
export interface HttpRequestEndEvent {
  readonly context: Context;
  readonly request: HttpRequestInfo;
  /** How many attempts were sent. */
  readonly attempts: number;
  /** The status of the response the caller gets, or of the `HttpStatusError` it gets; else `undefined`. */
  readonly statusCode: number | undefined;
  /** What the caller gets thrown; `undefined` when it gets a response. */
  readonly error: unknown;
}

export const requestStartChannel: Channel = channel(diagnosticsChannelName('http', 'request-start'));
export const attemptStartChannel: Channel = channel(diagnosticsChannelName('http', 'attempt-start'));
export const attemptEndChannel: Channel = channel(diagnosticsChannelName('http', 'attempt-end'));
export const requestEndChannel: Channel = channel(diagnosticsChannelName('http', 'request-end'));

/** Publishes request-start and runs `run` inside whatever scope the subscribers set. */
export function runRequestStart<R>(context: Context, request: HttpRequestInfo, run: () => R): R {
  const event: HttpRequestStartEvent = { context, request, scope: undefined };
  requestStartChannel.publish(event);
  return event.scope === undefined ? run() : event.scope(run);
}

// RFC 9110 token.
const headerName = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// Any CR, LF or NUL would split or truncate the header.
const unsafeValue = /[\r\n\0]/;

/** The attempt-start payload; the transport reads the headers set on it and sends inside its scope. */
export class AttemptStart implements HttpAttemptStartEvent {
  readonly context: Context;
  readonly request: HttpRequestInfo;
  readonly attempt: number;
  scope: HttpScope | undefined = undefined;
  /** Headers set by subscribers: lower-case name to value. */
  headers: Map<string, string> | undefined = undefined;

  constructor(context: Context, request: HttpRequestInfo, attempt: number) {
    this.context = context;
    this.request = request;
    this.attempt = attempt;
  }

  setHeader(name: string, value: string): void {
    if (typeof name !== 'string' || !headerName.test(name)) {
      throw new TypeError(`setHeader: name must be an HTTP token, received ${describeValue(name)}`);
    }
    if (typeof value !== 'string' || unsafeValue.test(value)) {
      throw new TypeError(
        `setHeader: value must be a string without CR, LF or NUL, received ${describeValue(value)}`,
      );
    }
    this.headers ??= new Map();
    this.headers.set(name.toLowerCase(), value);
  }

  /** Publishes this payload. */
  publish(): void {
    attemptStartChannel.publish(this);
  }

  /** Runs `send` inside the scope the subscribers set, if any. */
  send<R>(send: () => R): R {
    return this.scope === undefined ? send() : this.scope(send);
  }
}

/** Publishes attempt-end. Call only when `attemptEndChannel.hasSubscribers`. */
export function publishAttemptEnd(
  context: Context,
  request: HttpRequestInfo,
  attempt: number,
  statusCode: number | undefined,
  error: unknown,
  responseHeaders: HttpHeaderReader | undefined,
): void {
  const event: HttpAttemptEndEvent = { context, request, attempt, statusCode, error, responseHeaders };
  attemptEndChannel.publish(event);
}

/** Publishes request-end. Call only when `requestEndChannel.hasSubscribers`. */
export function publishRequestEnd(
  context: Context,
  request: HttpRequestInfo,
  attempts: number,
  statusCode: number | undefined,
  error: unknown,
): void {
  const event: HttpRequestEndEvent = { context, request, attempts, statusCode, error };
  requestEndChannel.publish(event);
}
