export { type RedisServer, type RedisServerOptions, startRedisServer } from './redis-server.js';
export { seededRandom } from './seeded-random.js';
export { type VirtualClock, type VirtualClockOptions, virtualClock } from './virtual-clock.js';
