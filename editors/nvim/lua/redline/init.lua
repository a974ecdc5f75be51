-- redline for Neovim (0.11+): starts `redline lsp` for buffers inside a git
-- repository and adds :RedlineReview and :RedlineStats.
--
--   require("redline").setup({
--     cmd = { "redline", "lsp" },   -- the server binary
--     filetypes = nil,              -- nil = every filetype
--     settings = {},                -- shaped like .redline.toml, e.g.
--                                   -- { review = { trigger = "idle" } }
--   })
local M = {}

M.defaults = {
  cmd = { "redline", "lsp" },
  filetypes = nil,
  root_markers = { ".redline.toml", ".git" },
  settings = {},
}

M.options = vim.deepcopy(M.defaults)

local function client_for(bufnr)
  return vim.lsp.get_clients({ bufnr = bufnr, name = "redline" })[1]
end

local function notify(msg, level)
  vim.notify("redline: " .. msg, level or vim.log.levels.INFO)
end

--- Reviews the current buffer now (saved or not); with `all`, every open
--- document the server holds.
function M.review(all)
  local bufnr = vim.api.nvim_get_current_buf()
  local client = client_for(bufnr)
  if not client then
    notify("not attached to this buffer (is it inside a git repository?)", vim.log.levels.WARN)
    return
  end
  local arguments = all and {} or { vim.uri_from_bufnr(bufnr) }
  -- Passing bufnr makes Neovim flush pending didChange first, so the
  -- review sees exactly what is in the buffer.
  client:exec_cmd({ title = "Review", command = "redline.reviewNow", arguments = arguments }, { bufnr = bufnr })
end

--- Shows usage, cost and circuit state.
function M.stats()
  local bufnr = vim.api.nvim_get_current_buf()
  local client = client_for(bufnr) or vim.lsp.get_clients({ name = "redline" })[1]
  if not client then
    notify("the server is not running", vim.log.levels.WARN)
    return
  end
  local arguments = { vim.uri_from_bufnr(bufnr) }
  client:exec_cmd({ title = "Stats", command = "redline.stats", arguments = arguments }, { bufnr = bufnr }, function(err, result)
    if err then
      notify(err.message, vim.log.levels.ERROR)
    else
      notify(vim.inspect(result))
    end
  end)
end

function M.setup(opts)
  M.options = vim.tbl_deep_extend("force", vim.deepcopy(M.defaults), opts or {})
  local o = M.options
  vim.lsp.config("redline", {
    cmd = o.cmd,
    filetypes = o.filetypes,
    -- Only buffers of real files inside a repository: not help, health,
    -- terminal or scratch buffers, which would start a second server rooted
    -- at the current directory.
    root_dir = function(bufnr, on_dir)
      if vim.bo[bufnr].buftype ~= "" or vim.api.nvim_buf_get_name(bufnr) == "" then
        return
      end
      local root = vim.fs.root(bufnr, o.root_markers)
      if root then
        on_dir(root)
      end
    end,
    init_options = o.settings,
    settings = { redline = o.settings },
  })
  vim.lsp.enable("redline")
  vim.api.nvim_create_user_command("RedlineReview", function(c)
    M.review(c.bang)
  end, { bang = true, desc = "redline: review this buffer now (! = every open buffer)" })
  vim.api.nvim_create_user_command("RedlineStats", M.stats, { desc = "redline: usage, cost and circuit state" })
end

return M
