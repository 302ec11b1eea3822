# /// script
# dependencies = ["pyyaml"]
# [tool.example]
# note = """
# ///
# """
# ///
