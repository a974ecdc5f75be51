-- Runs inside `nvim --headless -u NONE -l` (see tests/nvim_e2e.rs): loads the
-- plugin from editors/nvim, opens a file of a temporary repository, edits
-- it without writing, reviews through :RedlineReview and checks what the
-- user would see. Any failed assert exits non-zero.
local plugin = assert(os.getenv("REDLINE_PLUGIN_DIR"), "REDLINE_PLUGIN_DIR")
local bin = assert(os.getenv("REDLINE_BIN"), "REDLINE_BIN")
local repo = assert(os.getenv("REDLINE_TEST_REPO"), "REDLINE_TEST_REPO")
local TIMEOUT = 15000

vim.opt.runtimepath:prepend(plugin)
-- `-u NONE` skips filetype detection; vim.lsp.enable attaches on FileType.
vim.cmd("filetype on")
require("redline").setup({ cmd = { bin, "lsp" } })

vim.cmd.edit(repo .. "/a.py")
local buf = vim.api.nvim_get_current_buf()
assert(
  vim.wait(TIMEOUT, function()
    return #vim.lsp.get_clients({ bufnr = buf, name = "redline" }) > 0
  end, 20),
  "redline did not attach to the buffer"
)
local client = vim.lsp.get_clients({ bufnr = buf, name = "redline" })[1]
assert(
  vim.wait(TIMEOUT, function()
    return client.initialized
  end, 20),
  "the server did not initialize"
)

-- Edit without writing: a debug print on line 2, an eval on line 3.
vim.api.nvim_buf_set_lines(buf, 1, 1, false, { "    print(1)", "    eval(x)" })
assert(vim.bo[buf].modified, "buffer should be modified")
vim.cmd("RedlineReview")

local found = vim.wait(TIMEOUT, function()
  return #vim.diagnostic.get(buf) == 2
end, 20)
assert(found, "no diagnostics: " .. vim.inspect(vim.diagnostic.get(buf)))

local diags = vim.diagnostic.get(buf)
table.sort(diags, function(a, b)
  return a.lnum < b.lnum
end)
local print_d, eval_d = diags[1], diags[2]
assert(print_d.lnum == 1, "print finding on line 2, got " .. print_d.lnum)
assert(print_d.col == 4, "print finding at column 5, got " .. print_d.col)
assert(print_d.severity == vim.diagnostic.severity.INFO, "suggestion shows as INFO")
assert(print_d.source == "redline", "source")
assert(eval_d.lnum == 2 and eval_d.severity == vim.diagnostic.severity.WARN, vim.inspect(eval_d))

-- The code actions a user gets on the print finding.
local lsp_d = print_d.user_data.lsp
local resp = client:request_sync("textDocument/codeAction", {
  textDocument = { uri = vim.uri_from_bufnr(buf) },
  range = lsp_d.range,
  context = { diagnostics = { lsp_d } },
}, TIMEOUT, buf)
assert(resp and not resp.err, "codeAction failed: " .. vim.inspect(resp))
local titles = {}
for _, action in ipairs(resp.result) do
  table.insert(titles, action.title)
end
local expected = {
  "Apply redline fix",
  "Dismiss redline finding",
  "Dismiss redline finding for the team (.redline/dismissed.toml)",
  "Explain redline finding",
  "Dismiss all redline findings in this file",
}
assert(vim.deep_equal(titles, expected), "code actions: " .. vim.inspect(titles))

-- Findings follow the text: two lines above push them down, no review.
vim.api.nvim_buf_set_lines(buf, 0, 0, false, { "import os", "import sys" })
assert(
  vim.wait(TIMEOUT, function()
    local d = vim.diagnostic.get(buf)
    return #d == 2 and math.min(d[1].lnum, d[2].lnum) == 3
  end, 20),
  "findings did not move: " .. vim.inspect(vim.diagnostic.get(buf))
)

-- Applying the fix through Neovim's own machinery deletes the print line.
local fix = resp.result[1]
assert(fix.edit, "fix carries a workspace edit")
local moved = vim.diagnostic.get(buf)
table.sort(moved, function(a, b)
  return a.lnum < b.lnum
end)
local again = client:request_sync("textDocument/codeAction", {
  textDocument = { uri = vim.uri_from_bufnr(buf) },
  range = moved[1].user_data.lsp.range,
  context = { diagnostics = { moved[1].user_data.lsp } },
}, TIMEOUT, buf)
vim.lsp.util.apply_workspace_edit(again.result[1].edit, client.offset_encoding)
local lines = vim.api.nvim_buf_get_lines(buf, 0, -1, false)
assert(not vim.tbl_contains(lines, "    print(1)"), "fix applied: " .. vim.inspect(lines))

-- Nothing was written to disk.
local on_disk = table.concat(vim.fn.readfile(repo .. "/a.py"), "\n")
assert(not on_disk:find("print"), "the file on disk changed")

-- :RedlineStats reports the server's counters.
local notified = {}
vim.notify = function(msg)
  table.insert(notified, msg)
end
vim.cmd("RedlineStats")
assert(
  vim.wait(TIMEOUT, function()
    return #notified > 0
  end, 20),
  ":RedlineStats said nothing"
)
assert(notified[1]:find("reviews_published"), "stats: " .. notified[1])

-- :checkhealth redline finds the binary.
vim.cmd("checkhealth redline")
local report = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), "\n")
assert(report:find("binary:"), "checkhealth: " .. report)
assert(not report:find("ERROR"), "checkhealth reported an error: " .. report)
-- The health buffer is not a file: no second server was started for it.
assert(#vim.lsp.get_clients({ name = "redline" }) == 1, "one server, for the repository")

-- It reads the layered configuration as the server does: an endpoint set
-- only in the repository's .redline.toml is reported with its origin.
local f = assert(io.open(repo .. "/.redline.toml", "w"))
f:write('[llm]\nbase_url = "http://127.0.0.1:1/v1"\nmodel = "m"\n')
f:close()
vim.cmd("checkhealth redline")
report = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), "\n")
assert(report:find("endpoint http://127.0.0.1:1/v1 (from ", 1, true), "checkhealth: " .. report)
assert(report:find(".redline.toml)", 1, true), "checkhealth names the file: " .. report)

io.stdout:write("redline nvim e2e: OK\n")
vim.cmd("qa!")
