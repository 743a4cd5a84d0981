import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A `redis-server` started for a test; stop it when done (or hold it with `await using`). */
export interface RedisServer {
  /** `redis://127.0.0.1:<port>`, for `createClient({ url })`. */
  readonly url: string;
  /** The TCP port it listens on, on 127.0.0.1. */
  readonly port: number;
  /** Stops the server (SIGTERM, then SIGKILL after 5 s) and removes its temporary directory. Idempotent. */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Options of {@link startRedisServer}. */
export interface RedisServerOptions {
  /** The `redis-server` executable: a path, or a name looked up on `PATH`. @default "redis-server" */
  binary?: string;
  /** How long to wait for the server to answer `PING`, in milliseconds. @default 10000 */
  startTimeoutMs?: number;
}

const installHint =
  'Install it with `apt-get install redis-server` (Debian/Ubuntu) or ' +
  '`brew install redis` (macOS), or pass `startRedisServer({ binary: "/path/to/redis-server" })`.';

/**
 * Starts a real `redis-server` on 127.0.0.1 and a free port, without persistence (`--save ''`,
 * `--appendonly no`, a temporary working directory), and resolves once it answers `PING`.
 *
 * When the binary is missing it rejects with an error that says how to install it: tests that need Redis
 * fail loudly instead of being skipped.
 */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const binary = options.binary ?? 'redis-server';
  const startTimeoutMs = options.startTimeoutMs ?? 10_000;
  // Another process may take the free port between our probe and redis binding it: try a few ports.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const dir = await mkdtemp(join(tmpdir(), 'breakwater-redis-'));
    try {
      return await launch(binary, port, dir, startTimeoutMs);
    } catch (error) {
      await rm(dir, { recursive: true, force: true });
      if (!(error instanceof PortTakenError) || attempt === 3) throw error;
    }
  }
}

class PortTakenError extends Error {}

async function launch(
  binary: string,
  port: number,
  dir: string,
  startTimeoutMs: number,
): Promise<RedisServer> {
  const child = spawn(
    binary,
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
      '--daemonize',
      'no',
      '--logfile',
      '',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const collect = (chunk: Buffer): void => {
    if (output.length < 16_384) output += chunk.toString('utf8');
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);

  const exited = new Promise<Error>((resolve) => {
    child.once('error', (error: NodeJS.ErrnoException) => {
      resolve(
        error.code === 'ENOENT'
          ? new Error(
              `startRedisServer: the redis-server binary ${JSON.stringify(binary)} was not found. ${installHint}`,
            )
          : new Error(`startRedisServer: could not start ${JSON.stringify(binary)}: ${error.message}`, {
              cause: error,
            }),
      );
    });
    child.once('exit', (code, signal) => {
      const reason = `redis-server exited (${signal ?? `code ${code}`}) before accepting connections`;
      resolve(
        /address already in use/i.test(output)
          ? new PortTakenError(reason)
          : new Error(`${reason}:\n${output}`),
      );
    });
  });

  const ready = waitForPing(port, startTimeoutMs);
  let failure: Error | undefined;
  try {
    failure = await Promise.race([ready.then(() => undefined), exited]);
  } catch (error) {
    failure = error as Error;
  }
  if (failure !== undefined) {
    ready.cancel();
    await terminate(child);
    throw failure;
  }
  child.stdout?.off('data', collect);
  child.stderr?.off('data', collect);
  child.stdout?.resume();
  child.stderr?.resume();

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= terminate(child).then(() => rm(dir, { recursive: true, force: true }));
    return stopping;
  };
  return { url: `redis://127.0.0.1:${port}`, port, stop, [Symbol.asyncDispose]: stop };
}

function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

interface Cancellable extends Promise<void> {
  cancel(): void;
}

/** Resolves once a TCP client gets `+PONG` back for `PING`; polls every 25 ms until `timeoutMs`. */
function waitForPing(port: number, timeoutMs: number): Cancellable {
  let cancelled = false;
  const deadline = Date.now() + timeoutMs;
  const promise = (async () => {
    while (!cancelled) {
      if (await ping(port)) return;
      if (Date.now() > deadline)
        throw new Error(`startRedisServer: redis-server did not answer PING within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  })() as Cancellable;
  promise.cancel = () => {
    cancelled = true;
  };
  // The race in `launch` may settle through the exit branch first; this rejection must not go unhandled.
  promise.catch(() => {});
  return promise;
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let reply = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1');
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}
