export {
  type RedisScriptingClient,
  type RedisStoreOptions,
  redisStore,
  type ScriptArguments,
} from './redis-store.js';
export type { EncryptionKey } from './response-codec.js';
