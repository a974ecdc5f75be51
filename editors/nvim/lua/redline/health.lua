-- :checkhealth redline — is the server installed, which version, and is the
-- configured model endpoint reachable?
local M = {}

local function run(cmd)
  local ok, obj = pcall(function()
    return vim.system(cmd, { text = true }):wait(5000)
  end)
  if not ok or not obj then
    return nil
  end
  return obj
end

function M.check()
  local health = vim.health
  health.start("redline")
  if vim.fn.has("nvim-0.11") ~= 1 then
    health.error("Neovim 0.11 or newer is required (vim.lsp.config / vim.lsp.enable)")
  else
    health.ok("Neovim " .. tostring(vim.version()))
  end
  local opts = require("redline").options
  local bin = opts.cmd[1]
  if vim.fn.executable(bin) ~= 1 then
    health.error(("`%s` not found"):format(bin), {
      "Install it: cargo install --path . (in the redline repository)",
      "or pass the full path: require('redline').setup({ cmd = { '/path/to/redline', 'lsp' } })",
    })
    return
  end
  health.ok(("binary: %s"):format(vim.fn.exepath(bin)))
  local version = run({ bin, "--version" })
  if version and version.code == 0 then
    health.ok("version: " .. vim.trim(version.stdout))
  else
    health.warn("`" .. bin .. " --version` failed")
  end
  local settings = opts.settings or {}
  local url = (settings.llm and settings.llm.base_url) or vim.env.REDLINE_BASE_URL
  if not url or url == "" then
    health.info("no model endpoint configured: the built-in offline reviewer runs")
    return
  end
  if vim.fn.executable("curl") ~= 1 then
    health.warn("cannot check " .. url .. ": curl is not installed")
    return
  end
  local probe = run({ "curl", "-s", "-o", "/dev/null", "-m", "4", "-w", "%{http_code}", url:gsub("/+$", "") .. "/models" })
  local code = probe and tonumber(probe.stdout) or 0
  if code > 0 then
    health.ok(("endpoint %s answers (HTTP %d)"):format(url, code))
  else
    health.error(("endpoint %s is not reachable"):format(url), { "Check REDLINE_BASE_URL or [llm] base_url in .redline.toml" })
  end
end

return M
