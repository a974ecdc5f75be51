-- :checkhealth redline — is the server installed, which version, which
-- configuration does it load (the same layers as the server: user file,
-- .redline.toml, environment, then this plugin's settings), and is the
-- configured model endpoint reachable?
local M = {}

local function run(cmd, cwd)
  local ok, obj = pcall(function()
    return vim.system(cmd, { text = true, cwd = cwd }):wait(5000)
  end)
  if not ok or not obj then
    return nil
  end
  return obj
end

-- The folder whose configuration matters: the running server's root (the
-- health buffer itself is not a file), else the last file buffer's folder,
-- else the current directory.
local function config_dir()
  local client = vim.lsp.get_clients({ name = "redline" })[1]
  if client and client.root_dir then
    return client.root_dir
  end
  local alt = vim.fn.bufnr("#")
  local name = alt > 0 and vim.api.nvim_buf_get_name(alt) or ""
  if name ~= "" and vim.fn.isdirectory(vim.fs.dirname(name)) == 1 then
    return vim.fs.dirname(name)
  end
  return vim.fn.getcwd()
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

  -- The layered configuration, read by the server's own loader.
  local dir = config_dir()
  local shown = run({ bin, "config", "--json" }, dir)
  local loaded
  if shown and shown.code == 0 then
    local ok, decoded = pcall(vim.json.decode, shown.stdout)
    loaded = ok and decoded or nil
  end
  if not loaded then
    local why = shown and vim.trim(shown.stderr or "") or "it did not answer"
    health.error("the configuration does not load: " .. why, { "Fix the file and line named above" })
    return
  end
  if loaded.repository ~= vim.NIL and loaded.repository then
    health.ok("repository: " .. loaded.repository)
  else
    health.warn(("%s is not inside a git repository: nothing to diff against"):format(dir))
  end

  local settings = opts.settings or {}
  local url, origin
  if settings.llm and settings.llm.base_url then
    url, origin = settings.llm.base_url, "editor settings (setup{ settings = ... })"
  else
    local llm = loaded.config and loaded.config.llm or {}
    if llm.base_url ~= vim.NIL then
      url = llm.base_url
    end
    origin = loaded.origins and loaded.origins["llm.base_url"] or "default"
  end
  local providers = loaded.config and loaded.config.providers or {}
  if (not url or url == "") and next(providers) == nil then
    health.info("no model endpoint configured: the built-in offline reviewer runs")
    return
  end
  if loaded.offline and not (settings.llm and settings.llm.base_url) then
    health.info("offline mode (review.offline or REDLINE_OFFLINE): only the built-in reviewer runs")
  end
  if loaded.api_key_set then
    health.ok(("API key: $%s is set"):format(loaded.api_key_env))
  else
    health.info(("API key: $%s is not set (fine for a local endpoint)"):format(loaded.api_key_env))
  end
  if not url or url == "" then
    health.info("models use the endpoints of [providers]")
    return
  end
  health.info(("endpoint %s (from %s)"):format(url, origin))
  if vim.fn.executable("curl") ~= 1 then
    health.warn("cannot check " .. url .. ": curl is not installed")
    return
  end
  local probe = run({ "curl", "-s", "-o", "/dev/null", "-m", "4", "-w", "%{http_code}", url:gsub("/+$", "") .. "/models" })
  local code = probe and tonumber(probe.stdout) or 0
  if code > 0 then
    health.ok(("endpoint %s answers (HTTP %d)"):format(url, code))
  else
    health.error(("endpoint %s is not reachable"):format(url), { "Check " .. origin })
  end
end

return M
