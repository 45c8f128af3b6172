"""The Lua scripts that coordinate writers of a shared Redis index: the fenced state write and the
lease lock's release and renewal (each runs atomically on the server)."""

RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
# KEYS: state, lock, write nonce. ARGV: new state JSON, expected version ('' = any), lease token
# ('' = none), nonce of this call. A retried call whose first attempt landed finds its nonce: ok.
WRITE_STATE = """
if redis.call('get', KEYS[3]) == ARGV[4] then return 'ok' end
local cur = redis.call('get', KEYS[1])
if ARGV[3] ~= '' and redis.call('get', KEYS[2]) ~= ARGV[3] then return 'lease' end
if ARGV[2] ~= '' then
  local found = 0
  if cur then
    local ok, s = pcall(cjson.decode, cur)
    if not ok or type(s) ~= 'table' then return 'version:unreadable' end
    found = tonumber(s['version'])
  end
  if found ~= tonumber(ARGV[2]) then return 'version:' .. tostring(found) end
end
redis.call('set', KEYS[1], ARGV[1])
redis.call('set', KEYS[3], ARGV[4])
return 'ok'
"""

