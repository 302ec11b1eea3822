# /// script
# dependencies = [
#   "tomli; python_version < '3.11'",
#   "pywin32; sys_platform == 'win32'",
#   "six",
# ]
# ///
