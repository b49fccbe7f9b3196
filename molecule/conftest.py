"""Loads the scenarios' shared helpers (tests/rig/molecule_rig.py) as `rig`, for every scenario's tests.

Each scenario's molecule.yml sets the verifier's `confcutdir: ..`, so that pytest, started in the
scenario's folder, reads this file from the folder above.
"""

import importlib.util
import os

_SPEC = importlib.util.spec_from_file_location(
    'molecule_rig', os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests', 'rig', 'molecule_rig.py'))
rig = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(rig)
