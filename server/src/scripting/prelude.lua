-- The Lua side of the scripting sandbox, run once when the VM is made (chunk name
-- "=sandbox": the error handler skips frames of this chunk, so an error raised by a wrapper
-- here is reported at the user's line, as Redis reports errors of its C functions).
--
-- Arguments: `prim`, the table of primitives written in Rust (call, ctl, sha1hex, log,
-- random, randomseed), the debug library, which scripts never see, and `store`, where
-- compiled scripts and library functions are kept by integer key.
local prim, dbg, store = ...
local G = _G
local type, error, tostring, select, rawget, rawset, unpack =
    type, error, tostring, select, rawget, rawset, unpack
local lua_pcall, lua_setmetatable, lua_loadstring, lua_load =
    pcall, setmetatable, loadstring, load
local floor, concat = math.floor, table.concat

-- Redis's __redis__err__handler: an error becomes a table {err=..., source=..., line=...}.
local function handler(err)
    local lvl = 2
    local i = dbg.getinfo(lvl, 'nSl')
    while i and (i.what == 'C' or i.source == '=sandbox') do
        lvl = lvl + 1
        i = dbg.getinfo(lvl, 'nSl')
    end
    if type(err) == 'userdata' then
        -- An error raised from Rust (the kill hook): its message alone.
        err = {err = 'ERR ' .. tostring(err):gsub('^runtime error: ', '')}
    elseif type(err) ~= 'table' then
        err = {err = 'ERR ' .. tostring(err)}
    end
    if i then
        err['source'] = i.source
        err['line'] = i.currentline
    end
    return err
end

-- Read-only tables (Redis 7.0.15 marks globals and libraries read-only in its Lua VM; here
-- a table is read-only through an empty proxy whose metatable is itself read-only).
local readonly = lua_setmetatable({}, {__mode = 'k'})
local function refuse_write()
    error('Attempt to modify a readonly table', 2)
end
local function protect(real, index)
    local mt = {__index = index or real, __newindex = refuse_write}
    local view = lua_setmetatable({}, {__index = mt, __newindex = refuse_write, __metatable = false})
    mt.__metatable = view
    local proxy = lua_setmetatable({}, mt)
    readonly[proxy] = true
    readonly[view] = true
    return proxy, mt
end

-- Error tables as Redis's luaPushErrorBuff builds them: "-CODE msg" or "msg" (code ERR).
local function error_text(e)
    local code, msg
    if e:sub(1, 1) == '-' then
        local sp = e:find(' ', 1, true)
        if not sp then
            code, msg = 'ERR', e:sub(2)
        else
            code, msg = e:sub(2, sp - 1), e:sub(sp + 1)
        end
    else
        code, msg = 'ERR', e
    end
    msg = msg:gsub('^[\r\n]+', ''):gsub('[\r\n]+$', '')
    return code .. ' ' .. msg
end

local R = {}
R.call = prim.raising_call
R.pcall = prim.protected_call
R.error_reply = function(...)
    local e = ...
    if select('#', ...) ~= 1 or type(e) ~= 'string' then
        return {err = 'ERR wrong number or type of arguments'}
    end
    if e:sub(1, 1) ~= '-' then
        e = '-' .. e
    end
    return {err = error_text(e)}
end
R.status_reply = function(...)
    local s = ...
    if select('#', ...) ~= 1 or type(s) ~= 'string' then
        return {err = 'ERR wrong number or type of arguments'}
    end
    return {ok = s}
end
R.sha1hex = function(...)
    if select('#', ...) ~= 1 then
        error({err = 'ERR wrong number of arguments'}, 0)
    end
    local s = ...
    if type(s) == 'number' then
        s = tostring(s)
    end
    return prim.sha1hex(type(s) == 'string' and s or '')
end
R.log = function(...)
    local n = select('#', ...)
    if n < 2 then
        error({err = 'ERR redis.log() requires two arguments or more.'}, 0)
    end
    local level = ...
    if type(level) ~= 'number' and not (type(level) == 'string' and tonumber(level)) then
        error({err = 'ERR First argument must be a number (log level).'}, 0)
    end
    level = floor(tonumber(level))
    if level < 0 or level > 3 then
        error({err = 'ERR Invalid debug level.'}, 0)
    end
    local parts = {}
    for j = 2, n do
        local s = select(j, ...)
        if type(s) == 'string' or type(s) == 'number' then
            parts[#parts + 1] = tostring(s)
        end
    end
    prim.log(level, concat(parts, ' '))
end
R.setresp = function(...)
    if select('#', ...) ~= 1 then
        error({err = 'ERR redis.setresp() requires one argument.'}, 0)
    end
    local resp = tonumber((...)) or 0
    if resp ~= 2 and resp ~= 3 then
        error({err = 'ERR RESP version must be 2 or 3.'}, 0)
    end
    local ok, e = prim.ctl('setresp', resp)
    if not ok then
        error({err = e}, 0)
    end
end
R.set_repl = function(...)
    if select('#', ...) ~= 1 then
        error({err = 'ERR redis.set_repl() requires two arguments.'}, 0)
    end
    local flags = tonumber((...)) or 0
    if flags ~= 0 and flags ~= 1 and flags ~= 2 and flags ~= 3 then
        error({err = 'ERR Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.'}, 0)
    end
    local ok, e = prim.ctl('set_repl', flags)
    if not ok then
        error({err = e}, 0)
    end
end
R.acl_check_cmd = function(...)
    if select('#', ...) == 0 then
        error({err = 'ERR Please specify at least one argument for this redis lib call'}, 0)
    end
    local ok, e = prim.ctl('acl_check_cmd', ...)
    if e then
        error({err = e}, 0)
    end
    return ok
end
R.replicate_commands = function()
    return true
end
R.breakpoint = function()
    return false
end
R.debug = function()
end
R.REPL_NONE, R.REPL_AOF, R.REPL_SLAVE, R.REPL_REPLICA, R.REPL_ALL = 0, 1, 2, 2, 3
R.LOG_DEBUG, R.LOG_VERBOSE, R.LOG_NOTICE, R.LOG_WARNING = 0, 1, 2, 3
R.REDIS_VERSION = prim.version
R.REDIS_VERSION_NUM = prim.version_num

-- math.random as Redis's (its own rand48 generator, whose state carries from script to
-- script).
local function checkint(v, n)
    local x = tonumber(v)
    if not x then
        error("bad argument #" .. n .. " to 'random' (number expected, got " ..
            (v == nil and 'no value' or type(v)) .. ")", 3)
    end
    return x >= 0 and floor(x) or -floor(-x)
end
math.random = function(...)
    local n = select('#', ...)
    local r = prim.random()
    if n == 0 then
        return r
    elseif n == 1 then
        local u = checkint((...), 1)
        if u < 1 then
            error("bad argument #1 to 'random' (interval is empty)", 2)
        end
        return floor(r * u) + 1
    elseif n == 2 then
        local l, u = ...
        l, u = checkint(l, 1), checkint(u, 2)
        if l > u then
            error("bad argument #2 to 'random' (interval is empty)", 2)
        end
        return floor(r * (u - l + 1)) + l
    end
    error('wrong number of arguments', 2)
end
math.randomseed = function(seed)
    prim.randomseed(checkint(seed, 1))
end

-- pcall as Redis 7 has it: an error table becomes its message.
local function pack(...)
    return {n = select('#', ...), ...}
end
G.pcall = function(...)
    local res = pack(lua_pcall(...))
    if not res[1] then
        local e = res[2]
        if type(e) == 'table' and type(rawget(e, 'err')) == 'string' then
            e = rawget(e, 'err')
        end
        return false, e
    end
    return unpack(res, 1, res.n)
end

-- No bytecode (CVE-2015-4335): loadstring and load refuse binary chunks.
G.loadstring = function(s, name)
    if type(s) == 'string' and s:byte(1) == 27 then
        return nil, 'binary chunks are not allowed'
    end
    return lua_loadstring(s, name)
end
G.load = function(f, name)
    local parts = {}
    while true do
        local piece = f()
        if piece == nil or piece == '' then
            break
        end
        parts[#parts + 1] = piece
    end
    return G.loadstring(concat(parts), name)
end
G.setmetatable = function(t, mt)
    if readonly[t] then
        error('Attempt to modify a readonly table', 0)
    end
    return lua_setmetatable(t, mt)
end
G.rawset = function(t, k, v)
    if readonly[t] then
        error('Attempt to modify a readonly table', 0)
    end
    return rawset(t, k, v)
end

G.print, G.dofile, G.loadfile, G.debug, G.module, G.require = nil, nil, nil, nil, nil, nil

-- Libraries and the redis table are read-only; so are the globals scripts see.
for _, lib in ipairs({'string', 'math', 'table', 'coroutine', 'cjson', 'bit', 'struct', 'cmsgpack'}) do
    if rawget(G, lib) then
        rawset(G, lib, protect(rawget(G, lib)))
    end
end
rawset(G, 'redis', protect(R))
local globals, globals_mt = protect(G)
rawset(G, '_G', globals)

-- FUNCTION LOAD: a library's code sees only redis.register_function, redis.log and the
-- constants; its functions, when called, see the whole API (Redis switches the globals'
-- __index the same way).
local function reg_error(msg)
    error({err = 'ERR ' .. msg}, 0)
end
local function register_function(...)
    local n = select('#', ...)
    local name, callback, flags, description
    if n == 1 then
        local t = ...
        if type(t) ~= 'table' then
            reg_error('calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).')
        end
        for k, v in pairs(t) do
            if k == 'function_name' then
                if type(v) ~= 'string' then
                    reg_error('function_name argument given to redis.register_function must be a string')
                end
                name = v
            elseif k == 'callback' then
                if type(v) ~= 'function' then
                    reg_error('callback argument given to redis.register_function must be a function')
                end
                callback = v
            elseif k == 'description' then
                if type(v) ~= 'string' then
                    reg_error('description argument given to redis.register_function must be a string')
                end
                description = v
            elseif k == 'flags' then
                if type(v) ~= 'table' then
                    reg_error('flags argument to redis.register_function must be a table representing function flags')
                end
                flags = v
            else
                reg_error('unknown argument given to redis.register_function')
            end
        end
        if not name then
            reg_error('redis.register_function must get a function name argument')
        end
        if not callback then
            reg_error('redis.register_function must get a callback argument')
        end
    elseif n == 2 then
        name, callback = ...
        if type(name) ~= 'string' then
            reg_error('first argument to redis.register_function must be a string')
        end
        if type(callback) ~= 'function' then
            reg_error('second argument to redis.register_function must be a function')
        end
    else
        reg_error('wrong number of arguments to redis.register_function')
    end
    local fl = {}
    if flags then
        for _, f in pairs(flags) do
            if type(f) ~= 'string' then
                reg_error('unknown flag given')
            end
            fl[#fl + 1] = f
        end
    end
    local e = prim.register(name, callback, fl, description)
    if e then
        error({err = e}, 0)
    end
end
local L = {register_function = register_function, log = R.log}
for _, k in ipairs({'LOG_DEBUG', 'LOG_VERBOSE', 'LOG_NOTICE', 'LOG_WARNING', 'REDIS_VERSION', 'REDIS_VERSION_NUM'}) do
    L[k] = R[k]
end
local function nonexistent(_, k)
    error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
end
lua_setmetatable(L, {__index = nonexistent})
local load_env = lua_setmetatable({redis = protect(L)}, {__index = nonexistent})
local function set_loading(on)
    globals_mt.__index = on and load_env or G
end
-- Reading a global that does not exist is an error.
lua_setmetatable(G, {__index = function(_, k)
    error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
end})

-- Runs a compiled script (or the one stored at key `f`) under the error handler; only its
-- first result counts.
local xpcall = xpcall
local function run(f)
    if type(f) == 'number' then
        f = store[f]
    end
    return xpcall(f, handler)
end
-- A library function (stored at key `f`) gets KEYS and ARGV as its arguments.
local function run_with(f, keys, args)
    f = store[f]
    return xpcall(function()
        return f(keys, args)
    end, handler)
end

return globals, run, run_with, set_loading, handler
