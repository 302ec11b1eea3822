// Package condatools finds the real conda-family tools and the local test
// channel that the conda tests run against. It looks only at PATH and the
// environment, so the same tests run wherever the tools exist:
//
//	micromamba, mamba, conda  on PATH (micromamba and mamba 2.x, conda with libmamba)
//	SENV_TEST_MICROMAMBA15    path of a micromamba 1.5 binary (the older line sites run)
//	SENV_TEST_CHANNEL         file:// URL of the test channel (hello-prefix, demo-noarch, python, pip)
//
// A missing tool skips the test, except in CI (CI set), where it fails it:
// .ci/run installs every one.
package condatools
