import { existsSync, realpathSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { startRedisServer } from './redis-server.js';

/** Sends raw RESP commands and returns the raw reply text once `expectedLines` CRLF-terminated lines arrived. */
function send(port: number, command: string, expectedLines = 1): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let reply = '';
    socket.once('error', reject);
    socket.once('connect', () => socket.write(command));
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1');
      if (reply.split('\r\n').length - 1 >= expectedLines) {
        socket.destroy();
        resolve(reply);
      }
    });
  });
}

function connectionRefused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
  });
}

describe('startRedisServer', () => {
  it('starts a server that answers commands on 127.0.0.1 and stops it', async () => {
    const server = await startRedisServer();
    expect(server.url).toBe(`redis://127.0.0.1:${server.port}`);
    expect(await send(server.port, 'PING\r\n')).toBe('+PONG\r\n');
    expect(await send(server.port, 'SET k v\r\n')).toBe('+OK\r\n');
    expect(await send(server.port, 'GET k\r\n', 2)).toBe('$1\r\nv\r\n');
    await server.stop();
    expect(await connectionRefused(server.port)).toBe(true);
    await server.stop(); // idempotent
  });

  it('runs without persistence in a temporary directory it removes on stop', async () => {
    const server = await startRedisServer();
    const config = await send(
      server.port,
      'CONFIG GET save\r\nCONFIG GET appendonly\r\nCONFIG GET dir\r\n',
      15,
    );
    expect(config).toContain('$4\r\nsave\r\n$0\r\n\r\n');
    expect(config).toContain('$10\r\nappendonly\r\n$2\r\nno\r\n');
    const dir = /\$3\r\ndir\r\n\$\d+\r\n([^\r]+)\r\n/.exec(config)?.[1];
    expect(dir).toMatch(new RegExp(`^${realpathSync(tmpdir())}/breakwater-redis-`));
    expect(existsSync(dir!)).toBe(true);
    await server.stop();
    expect(existsSync(dir!)).toBe(false);
  });

  it('gives concurrent servers different ports and isolated data', async () => {
    await using a = await startRedisServer();
    await using b = await startRedisServer();
    expect(a.port).not.toBe(b.port);
    await send(a.port, 'SET only-in-a 1\r\n');
    expect(await send(b.port, 'EXISTS only-in-a\r\n')).toBe(':0\r\n');
  });

  it('stops through Symbol.asyncDispose', async () => {
    let port = 0;
    {
      await using server = await startRedisServer();
      port = server.port;
      expect(await send(port, 'PING\r\n')).toBe('+PONG\r\n');
    }
    expect(await connectionRefused(port)).toBe(true);
  });

  it('fails loudly, saying how to install redis-server, when the binary is missing', async () => {
    const failure = startRedisServer({ binary: '/nonexistent/redis-server' });
    await expect(failure).rejects.toThrow(/redis-server.*was not found/);
    await expect(failure).rejects.toThrow(/apt-get install redis-server/);
    await expect(failure).rejects.toThrow(/brew install redis/);
    await expect(failure).rejects.toThrow(/startRedisServer\(\{ binary:/);
  });

  it('reports a binary that exits before accepting connections, with its output', async () => {
    await expect(startRedisServer({ binary: 'false' })).rejects.toThrow(
      /exited \(code 1\) before accepting connections/,
    );
  });
});
