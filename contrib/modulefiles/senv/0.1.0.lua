-- Lmod modulefile for senv (see docs/site-install.md).
--
-- Install it as $MODULEPATH/senv/VERSION.lua, one file per installed
-- version: the file name is the version, and senv VERSION lives in
-- ROOT/VERSION (bin/senv, etc/config.toml). Set ROOT below to where you
-- install senv; it must be the same path on every login and compute node.
local root = "/opt/senv"
local version = myModuleVersion()
local prefix = pathJoin(root, version)

whatis("Name: senv")
whatis("Version: " .. version)
whatis("Description: Python environments for Slurm jobs from #ENV lines: solved once, built once, cached as one file, staged on node-local disk")

help([[
senv reads #ENV lines beside your #SBATCH lines, checks them before the job
is queued, builds the environment once, caches it and runs the job in it:

    senv check job.sh      validate the #ENV lines
    senv sbatch job.sh     lock, build and submit
    senv doctor            the effective config and where it comes from

This module puts senv on PATH and sets SENV_CONFIG to the site's file
(which wins over ~/.config/senv/config.toml; see senv doctor):
]] .. "    " .. pathJoin(prefix, "etc", "config.toml") .. "\n")

prepend_path("PATH", pathJoin(prefix, "bin"))
setenv("SENV_CONFIG", pathJoin(prefix, "etc", "config.toml"))
