export {
  type Fault,
  type FaultFunction,
  type FaultRoute,
  type FaultScript,
  type FaultServer,
  type RecordedRequest,
  startFaultServer,
} from './fault-server.js';
export { type RedisServer, type RedisServerOptions, startRedisServer } from './redis-server.js';
export { seededRandom } from './seeded-random.js';
export { type VirtualClock, type VirtualClockOptions, virtualClock } from './virtual-clock.js';
