package envs

import "github.com/senv-hpc/senv/solver"

func testLock() *solver.Lock {
	return &solver.Lock{Version: solver.LockVersion, SpecKey: "k", Manager: "venv", Tool: "pip 23", Platform: "p"}
}
