"""A console script packed without a Dockerfile: `gantry build examples/python-cli -t hello-cli`."""
import sys


def run() -> int:
    name = sys.argv[1] if len(sys.argv) > 1 else "you"
    print(f"hello, {name}")
    return 0
