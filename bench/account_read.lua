-- wrk script: GET /v1/tenants/{random}/account with a finance key.
local key = os.getenv("WATTLE_KEY")
local n = tonumber(os.getenv("TENANTS") or "1000")
math.randomseed(os.time())
request = function()
  local id = math.random(1, n)
  return wrk.format("GET", "/v1/tenants/ten_" .. id .. "/account",
                    { ["Authorization"] = "Bearer " .. key })
end
