# /// script
# requires-python = ">=3.9"
# dependencies = [
#   "requests<3",
#   "rich",
# ]
# ///
import requests
from rich.pretty import pprint

pprint(requests.get("https://example.org").status_code)
