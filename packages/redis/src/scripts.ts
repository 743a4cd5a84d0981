import { createHash } from 'node:crypto';

/**
 * The Lua scripts of the Redis idempotency store. Each runs atomically on the server. A record is a hash:
 * `v` schema version, `st` state (`p` in progress, `c` completed), `o` owner token, `f` fingerprint, `l` lease
 * expiry (server time, ms), `a` attempt, `r` the stored response. Expiry uses the server's clock (`TIME`,
 * `PEXPIRE`), never the clients'. Every write but the first claim is conditional on the owner token.
 */

export interface Script {
  readonly source: string;
  readonly sha: string;
}

function script(source: string): Script {
  return Object.freeze({ source, sha: createHash('sha1').update(source).digest('hex') });
}

const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/** KEYS[1]; ARGV: owner, fingerprint, leaseMs, retentionMs, takeover ('1'/'0'). */
export const CLAIM: Script = script(`${NOW}
local k = KEYS[1]
local lease_ms = tonumber(ARGV[3])
local rec = redis.call('HMGET', k, 'v', 'st', 'f', 'l', 'a')
if not rec[1] then
  redis.call('HSET', k, 'v', '1', 'st', 'p', 'o', ARGV[1], 'f', ARGV[2], 'l', string.format('%d', now + lease_ms), 'a', '1')
  redis.call('PEXPIRE', k, ARGV[4])
  return {'claimed', 1}
end
if rec[1] ~= '1' then
  return redis.error_reply('ERR breakwater idempotency record has an unknown schema version')
end
if rec[2] == 'p' then
  local lease = tonumber(rec[4])
  if lease <= now and ARGV[5] == '1' and rec[3] == ARGV[2] then
    local attempt = tonumber(rec[5]) + 1
    redis.call('HSET', k, 'o', ARGV[1], 'l', string.format('%d', now + lease_ms), 'a', tostring(attempt))
    if redis.call('PTTL', k) < lease_ms then redis.call('PEXPIRE', k, lease_ms) end
    return {'claimed', attempt}
  end
  return {'in_progress', rec[3], lease - now}
end
return {'completed', rec[3], redis.call('HGET', k, 'r')}
`);

/** KEYS[1]; ARGV: owner, leaseMs. */
export const RENEW: Script = script(`${NOW}
local k = KEYS[1]
local rec = redis.call('HMGET', k, 'st', 'o')
if rec[1] ~= 'p' or rec[2] ~= ARGV[1] then return 0 end
local lease_ms = tonumber(ARGV[2])
redis.call('HSET', k, 'l', string.format('%d', now + lease_ms))
if redis.call('PTTL', k) < lease_ms then redis.call('PEXPIRE', k, lease_ms) end
return 1
`);

/** KEYS[1]; ARGV: owner, response, retentionMs. */
export const COMPLETE: Script = script(`local k = KEYS[1]
local rec = redis.call('HMGET', k, 'st', 'o')
if rec[1] ~= 'p' or rec[2] ~= ARGV[1] then return 0 end
redis.call('HSET', k, 'st', 'c', 'r', ARGV[2])
redis.call('HDEL', k, 'l')
redis.call('PEXPIRE', k, ARGV[3])
return 1
`);

/** KEYS[1]; ARGV: owner. */
export const RELEASE: Script = script(`local k = KEYS[1]
local rec = redis.call('HMGET', k, 'st', 'o')
if rec[1] ~= 'p' or rec[2] ~= ARGV[1] then return 0 end
redis.call('DEL', k)
return 1
`);
