# /// script
# requires-python = ">=3.10"
# dependencies = ["tqdm"]
#
# [tool.uv]
# exclude-newer = "2024-07-01T00:00:00Z"
# ///
from tqdm import tqdm
