package solver

// Python's -c and -m put the working directory first on sys.path, and senv
// runs pip, venv and its interpreter queries in the user's working
// directory (relative paths in a spec are relative to it). A typing.py,
// email.py or shutil.py there would then be imported, and run, in place of
// the standard library's. PythonCode and PythonModule take that entry out
// before anything is imported, as -P does from Python 3.11 on; nothing else
// about the interpreter changes (-I would also drop PYTHONPATH and the
// user site).

// noWorkingDir drops the working directory ("" under -c) from the front
// of sys.path, and only it: under -P or PYTHONSAFEPATH it is not there.
const noWorkingDir = "import sys; sys.path[:1] = [p for p in sys.path[:1] if p]\n"

// PythonCode is the argv that runs code with the interpreter python, as
// `python -c code args...` does, without the working directory on sys.path.
func PythonCode(python, code string, args ...string) []string {
	return append([]string{python, "-c", noWorkingDir + code}, args...)
}

// PythonModule is the argv that runs module with the interpreter python,
// as `python -m module args...` does (sys.argv[0] is the module's file),
// without the working directory on sys.path.
func PythonModule(python, module string, args ...string) []string {
	return PythonCode(python, "import runpy; runpy.run_module(sys.argv.pop(1), run_name='__main__', alter_sys=True)",
		append([]string{module}, args...)...)
}
