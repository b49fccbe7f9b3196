"""Offline stand-in for the get-pip bootstrap script that ansible-test downloads.

ansible-test bootstraps pip in each of its virtual environments by running a script that it
downloads from a host this machine cannot reach. This stand-in does the same job with a pip wheel
that `make` downloaded from the package index beforehand and put in the folder ``wheels`` beside
this script. ansible-test runs it with the arguments it would give the real script: pip install
options and the packages to install.
"""

import glob
import os
import sys

WHEELS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "wheels")


def main():
    candidates = sorted(glob.glob(os.path.join(WHEELS, "pip-*.whl")))
    if not candidates:
        sys.stderr.write("get-pip stand-in: no pip wheel in %s (run 'make venv')\n" % WHEELS)
        return 1
    sys.path.insert(0, candidates[-1])
    from pip._internal.cli.main import main as pip_main

    args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
    return pip_main(["install", "--find-links", WHEELS] + args)


if __name__ == "__main__":
    sys.exit(main())
