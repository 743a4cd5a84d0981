/**
 * The loopback HTTP server of the http suite, in its own process so that its work does not count against the
 * client: node:http on 127.0.0.1, a 2-byte body, keep-alive. Prints `{ port }` once listening and exits when
 * the parent disconnects (or after 15 minutes at the latest).
 */
import { createServer } from 'node:http';

const body = Buffer.from('ok');
const server = createServer((_request, response) => {
  response.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
  response.end(body);
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  process.send?.({ port: address.port });
});
process.on('disconnect', () => process.exit(0));
setTimeout(() => process.exit(0), 15 * 60_000).unref();
