# /// script
# requires-python = ">=3.8"
# dependencies = []
# ///
print("no dependencies")
