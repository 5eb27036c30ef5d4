"""Lua scripts that make the cache's check-then-write steps atomic inside Redis.

Tokens and generations are what let a fill detect that a write happened while it
was loading (see shopnet.product.cache). A generation starts from Redis' clock
rather than 0, so a generation key that was evicted never returns to a value that
old list pages were stored under.
"""

_GENERATION = """
local function generation(key)
  local g = redis.call('GET', key)
  if not g then
    local t = redis.call('TIME')
    g = t[1] .. string.format('%06d', t[2])
    redis.call('SET', key, g)
  end
  return g
end
"""

# KEYS: product, token; ARGV: token read before the load ('' = none), body, ttl.
FILL_PRODUCT = """
if (redis.call('GET', KEYS[2]) or '') == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  return 1
end
return 0
"""

# KEYS: product, token, generation; ARGV: new token, token ttl.
INVALIDATE = (
    _GENERATION
    + """
redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[2])
redis.call('DEL', KEYS[1])
generation(KEYS[3])
return redis.call('INCR', KEYS[3])
"""
)

# KEYS: generation.
BUMP_GENERATION = (
    _GENERATION
    + """
generation(KEYS[1])
return redis.call('INCR', KEYS[1])
"""
)

# KEYS: generation; ARGV: list prefix, query key. Returns {generation, page or false}.
GET_LIST = (
    _GENERATION
    + """
local g = generation(KEYS[1])
return {g, redis.call('GET', ARGV[1] .. g .. ':' .. ARGV[2])}
"""
)

# KEYS: generation; ARGV: generation read before the load, list key, body, ttl.
FILL_LIST = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', ARGV[2], ARGV[3], 'EX', ARGV[4])
  return 1
end
return 0
"""
