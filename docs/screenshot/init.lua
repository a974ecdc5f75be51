-- Neovim setup for the README screenshot (see neovim.sh): the plugin from
-- editors/nvim, diagnostics as virtual text and signs, a review on attach.
local plugin = assert(os.getenv("REDLINE_PLUGIN_DIR"))
local bin = assert(os.getenv("REDLINE_BIN"))
vim.opt.runtimepath:prepend(plugin)
vim.o.termguicolors = true
vim.o.number = true
vim.o.signcolumn = "yes"
vim.o.laststatus = 2
vim.o.shortmess = vim.o.shortmess .. "I"
vim.cmd("filetype plugin on")
vim.cmd("syntax on")
vim.diagnostic.config({
  virtual_text = { prefix = "●", source = false, format = function(d) return string.format("%s [%s]", d.message:match("^[^\n]*"), d.code or d.source) end },
  signs = true,
  underline = true,
  severity_sort = true,
})
require("redline").setup({ cmd = { bin, "lsp" } })
vim.api.nvim_create_autocmd("LspAttach", {
  callback = function(ev)
    local client = vim.lsp.get_client_by_id(ev.data.client_id)
    if client and client.name == "redline" then
      vim.defer_fn(function() vim.cmd("RedlineReview") end, 200)
    end
  end,
})
-- Once findings arrive, open the float of the first one, as a user would
-- with vim.diagnostic.open_float(), and put a marker in the command line.
vim.api.nvim_create_autocmd("DiagnosticChanged", {
  callback = function(ev)
    if #vim.diagnostic.get(ev.buf) >= 3 then
      vim.schedule(function()
        vim.api.nvim_win_set_cursor(0, { 11, 4 })
        vim.diagnostic.open_float({ scope = "line", border = "rounded", max_width = 80, anchor_bias = "below", source = false })
        vim.api.nvim_echo({ { "redline: " .. #vim.diagnostic.get(ev.buf) .. " findings" } }, false, {})
      end)
    end
  end,
})
