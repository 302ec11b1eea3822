--[[
senv's Slurm cli_filter (cli_filter/lua): check the #ENV lines of a job script when a user
submits it with plain `sbatch job.sh`, so that a typo fails at submit with FILE:LINE and a
hint, not hours later in the queue. Install (see docs/site-install.md):

    # slurm.conf
    CliFilterPlugins=cli_filter/lua
    # this file, as cli_filter.lua beside slurm.conf (/etc/slurm/cli_filter.lua), with
    # `local senv` below set to senv's absolute path on the submit hosts

It runs in the user's own sbatch, as the user, before anything is sent to slurmctld:

  * only for sbatch with a script file whose text has a line starting with "#ENV" (or a
    PEP 723 "# /// script" block); every other submission (--wrap, a script on stdin,
    salloc, srun, scripts without #ENV) costs one read of the script and nothing else;
  * not for scripts rendered by `senv sbatch` (they carry senv's setup block: that senv
    has checked, locked and built them already);
  * it runs `senv check SCRIPT` (mode "check"), `senv check --solve SCRIPT` ("solve": the
    lock is recorded in the user's cache too, so no job solves) or `senv build SCRIPT`
    ("build": the env is built into the cache at submit, as `senv sbatch` does), with the
    user's environment (their SENV_CONFIG, module, SENV_* settings);
  * it rejects the submission when senv says the spec is bad (exit 2; "solve" and "build":
    also 1, the env cannot be made): senv's lines go to the user's terminal, FILE:LINE and
    hint, and nothing is queued;
  * it FAILS OPEN: when senv is missing, cannot run, or takes longer than `timeout_s`, the
    job is submitted unchecked with a warning on stderr. A missing binary on one login node
    must never block every submission of a cluster.

The script's path is the only user-controlled value; it reaches the shell of io.popen
single-quoted (quote() below), never bare. A cli_filter is help for users, not policy: a
user can bypass it (another SLURM_CONF, their own sbatch); use a job_submit plugin for
rules that must hold.
--]]

-- Site settings.
local senv = "/usr/local/bin/senv" -- absolute path of senv on the submit hosts
local mode = "check" -- "check", "solve" or "build" (see above)
local timeout_s = 60 -- give up (and submit unchecked) after this long; "build" may need more
local max_read = 4 * 1024 * 1024 -- bytes of the script read to look for #ENV lines

-- What `senv sbatch` writes into the scripts it renders (templates.InjectMarker).
local rendered_marker = "# >>> senv: environment setup"
local status_tag = "senv_cli_filter_status=" -- no Lua pattern characters

-- quote returns s as one single-quoted POSIX shell word: nothing in it is expanded.
local function quote(s)
	return "'" .. (string.gsub(s, "'", "'\\''")) .. "'"
end

local function warn(fmt, ...)
	io.stderr:write("senv: cli_filter: warning: " .. string.format(fmt, ...) .. "\n")
end

-- wants_env reports whether a script may ask senv for an env (the cheap first look senv's
-- own hooks take: a false positive only costs a `senv check`).
local function wants_env(text)
	if string.find(text, rendered_marker, 1, true) then
		return false -- rendered by senv sbatch: checked there
	end
	return string.find(text, "^#ENV") ~= nil or string.find(text, "\n#ENV") ~= nil
		or string.find(text, "# /// script", 1, true) ~= nil
end

-- run runs senv with args (already quoted words) and returns its exit status and its
-- stderr lines (and stdout's unless drop_stdout). Lua 5.1's popen cannot report the
-- status: the shell prints it as the last line.
local function run(args, drop_stdout)
	local redirect = " </dev/null 2>&1"
	if drop_stdout then
		redirect = redirect .. " >/dev/null"
	end
	local cmd = "timeout " .. timeout_s .. " " .. quote(senv) .. " " .. args
		.. redirect .. "; echo " .. status_tag .. "$?"
	local p = io.popen(cmd, "r")
	if p == nil then
		return nil, {}
	end
	local lines, status = {}, nil
	for line in p:lines() do
		if string.sub(line, 1, #status_tag) == status_tag then
			status = tonumber(string.sub(line, #status_tag + 1))
		else
			lines[#lines + 1] = line
		end
	end
	p:close()
	return status, lines
end

function slurm_cli_setup_defaults(options, early_pass)
	return slurm.SUCCESS
end

function slurm_cli_pre_submit(options, pack_offset)
	if options["type"] ~= "sbatch" or options["wrap"] ~= nil then
		return slurm.SUCCESS
	end
	local argv = options["argv"]
	local script = argv and argv[1]
	if script == nil or script == "" then
		return slurm.SUCCESS -- the script comes on stdin: sbatch has read it, we cannot
	end
	local f = io.open(script, "rb")
	if f == nil then
		return slurm.SUCCESS -- sbatch itself says why it cannot read it
	end
	local text = f:read(max_read) or ""
	f:close()
	if not wants_env(text) then
		return slurm.SUCCESS
	end
	local f2 = io.open(senv, "rb")
	if f2 == nil then
		warn("%s is missing: %s submitted without checking its #ENV lines", senv, script)
		return slurm.SUCCESS
	end
	f2:close()

	local args = "check -- " .. quote(script)
	if mode == "solve" then
		args = "check --solve -- " .. quote(script)
	elseif mode == "build" then
		args = "build -- " .. quote(script)
	end
	local status, lines = run(args, mode == "build") -- build's stdout, the env ID, is not for the user
	local rejected = status == 2 or (status == 1 and mode ~= "check")
	if status ~= 0 and not rejected then
		for _, l in ipairs(lines) do
			io.stderr:write(l .. "\n")
		end
		if status == 124 then
			warn("senv %s took longer than %ds: %s submitted unchecked", mode, timeout_s, script)
		else
			warn("senv %s could not run (exit %s): %s submitted unchecked", mode, tostring(status), script)
		end
		return slurm.SUCCESS
	end
	for _, l in ipairs(lines) do -- errors when rejected; warnings and phase lines otherwise
		io.stderr:write(l .. "\n")
	end
	if rejected then
		slurm.log_error("%s", "senv: " .. script .. " was not submitted: fix the #ENV lines above (senv check " .. script .. ")")
		return slurm.ERROR
	end
	return slurm.SUCCESS
end

function slurm_cli_post_submit(offset, job_id, step_id)
	return slurm.SUCCESS
end
